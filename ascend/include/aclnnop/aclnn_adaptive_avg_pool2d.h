/*
 * aclnnop/aclnn_adaptive_avg_pool2d.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  pooling/adaptive_avg_pool2d/docs/aclnnAdaptiveAvgPool2d.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn pooling/adaptive_avg_pool2d/op_api/aclnn_adaptive_avg_pool2d.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_ADAPTIVE_AVG_POOL2D_H
#define ASCEND_STUB_ACLNNOP_ACLNN_ADAPTIVE_AVG_POOL2D_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnAdaptiveAvgPool2dGetWorkspaceSize(const aclTensor *self,
                                                   const aclIntArray *outputSize,
                                                   aclTensor *out,
                                                   uint64_t *workspaceSize,
                                                   aclOpExecutor **executor);

aclnnStatus aclnnAdaptiveAvgPool2d(void *workspace,
                                   uint64_t workspaceSize,
                                   aclOpExecutor *executor,
                                   const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_ADAPTIVE_AVG_POOL2D_H */
