/*
 * aclnnop/aclnn_batch_norm.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  norm/batch_norm_v3/docs/aclnnBatchNorm.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn norm/batch_norm_v3/op_host/op_api/aclnn_batch_norm.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_BATCH_NORM_H
#define ASCEND_STUB_ACLNNOP_ACLNN_BATCH_NORM_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnBatchNormGetWorkspaceSize(const aclTensor *input,
                                           const aclTensor *weight,
                                           const aclTensor *bias,
                                           aclTensor *runningMean,
                                           aclTensor *runningVar,
                                           bool training,
                                           double momentum,
                                           double eps,
                                           aclTensor *output,
                                           aclTensor *saveMean,
                                           aclTensor *saveInvstd,
                                           uint64_t *workspaceSize,
                                           aclOpExecutor **executor);

aclnnStatus aclnnBatchNorm(void *workspace,
                           uint64_t workspaceSize,
                           aclOpExecutor *executor,
                           aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_BATCH_NORM_H */
