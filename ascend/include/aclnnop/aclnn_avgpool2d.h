/*
 * aclnnop/aclnn_avgpool2d.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  pooling/avg_pool3_d/docs/aclnnAvgPool2d.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn pooling/avg_pool3_d/op_api/aclnn_avgpool2d.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_AVGPOOL2D_H
#define ASCEND_STUB_ACLNNOP_ACLNN_AVGPOOL2D_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnAvgPool2dGetWorkspaceSize(const aclTensor *self,
                                           const aclIntArray *kernelSize,
                                           const aclIntArray *strides,
                                           const aclIntArray *paddings,
                                           const bool ceilMode,
                                           const bool countIncludePad,
                                           const int64_t divisorOverride,
                                           const int8_t cubeMathType,
                                           aclTensor *out,
                                           uint64_t *workspaceSize,
                                           aclOpExecutor **executor);

aclnnStatus aclnnAvgPool2d(void *workspace,
                           uint64_t workspaceSize,
                           aclOpExecutor *executor,
                           aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_AVGPOOL2D_H */
