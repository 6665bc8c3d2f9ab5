/*
 * aclnnop/aclnn_max_pool2d_with_indices.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  pooling/max_pool3d_with_argmax_v2/docs/aclnnMaxPool2dWithIndices.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn pooling/max_pool3d_with_argmax_v2/op_api/aclnn_max_pool2d_with_indices.h.
 *
 * Max pooling: both public 2-D entry points exist. This header holds aclnnMaxPool2dWithIndices
 * (PyTorch-style max_pool2d with kernel/stride/padding/dilation/ceilMode, also returns indices).
 * The ONNX-style aclnnMaxPool (no indices output) is in aclnn_max_pool.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL2D_WITH_INDICES_H
#define ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL2D_WITH_INDICES_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnMaxPool2dWithIndicesGetWorkspaceSize(const aclTensor *self,
                                                      const aclIntArray *kernelSize,
                                                      const aclIntArray *stride,
                                                      const aclIntArray *padding,
                                                      const aclIntArray *dilation,
                                                      bool ceilMode,
                                                      aclTensor *out,
                                                      aclTensor *indices,
                                                      uint64_t *workspaceSize,
                                                      aclOpExecutor **executor);

aclnnStatus aclnnMaxPool2dWithIndices(void *workspace,
                                      uint64_t workspaceSize,
                                      aclOpExecutor *executor,
                                      aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL2D_WITH_INDICES_H */
