/*
 * aclnnop/aclnn_leaky_relu.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  activation/leaky_relu/docs/aclnnLeakyRelu&aclnnInplaceLeakyRelu.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn activation/leaky_relu/op_api/aclnn_leaky_relu.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_LEAKY_RELU_H
#define ASCEND_STUB_ACLNNOP_ACLNN_LEAKY_RELU_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnLeakyReluGetWorkspaceSize(const aclTensor *self,
                                           const aclScalar *negativeSlope,
                                           aclTensor *out,
                                           uint64_t *workspaceSize,
                                           aclOpExecutor **executor);

aclnnStatus aclnnLeakyRelu(void *workspace,
                           uint64_t workspaceSize,
                           aclOpExecutor *executor,
                           aclrtStream stream);

aclnnStatus aclnnInplaceLeakyReluGetWorkspaceSize(aclTensor *selfRef,
                                                  const aclScalar *negativeSlope,
                                                  uint64_t *workspaceSize,
                                                  aclOpExecutor **executor);

aclnnStatus aclnnInplaceLeakyRelu(void *workspace,
                                  uint64_t workspaceSize,
                                  aclOpExecutor *executor,
                                  aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_LEAKY_RELU_H */
