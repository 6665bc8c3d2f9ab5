/*
 * aclnnop/aclnn_max_pool.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  pooling/max_pool_v3/docs/aclnnMaxPool.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn pooling/max_pool_v3/op_api/aclnn_max_pool.h.
 *
 * Max pooling: ONNX-style aclnnMaxPool (no indices output; autoPad/pads/dilations/ceilMode).
 * The PyTorch-style aclnnMaxPool2dWithIndices is in aclnn_max_pool2d_with_indices.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL_H
#define ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnMaxPoolGetWorkspaceSize(const aclTensor *self,
                                         const aclIntArray *kernelShape,
                                         const aclIntArray *strides,
                                         const int64_t autoPad,
                                         const aclIntArray *pads,
                                         const aclIntArray *dilations,
                                         const int64_t ceilMode,
                                         aclTensor *out,
                                         uint64_t *workspaceSize,
                                         aclOpExecutor **executor);

aclnnStatus aclnnMaxPool(void *workspace,
                         uint64_t workspaceSize,
                         aclOpExecutor *executor,
                         aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_MAX_POOL_H */
