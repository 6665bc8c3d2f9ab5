/*
 * aclnnop/aclnn_relu.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  activation/relu/docs/aclnnRelu&aclnnInplaceRelu.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn activation/relu/op_api/aclnn_relu.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_RELU_H
#define ASCEND_STUB_ACLNNOP_ACLNN_RELU_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnReluGetWorkspaceSize(const aclTensor *self,
                                      const aclTensor *out,
                                      uint64_t *workspaceSize,
                                      aclOpExecutor **executor);

aclnnStatus aclnnRelu(void *workspace,
                      uint64_t workspaceSize,
                      aclOpExecutor *executor,
                      const aclrtStream stream);

aclnnStatus aclnnInplaceReluGetWorkspaceSize(aclTensor *selfRef,
                                             uint64_t *workspaceSize,
                                             aclOpExecutor **executor);

aclnnStatus aclnnInplaceRelu(void *workspace,
                             uint64_t workspaceSize,
                             aclOpExecutor *executor,
                             const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_RELU_H */
