/*
 * aclnnop/aclnn_hardswish.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  activation/hard_swish/docs/aclnnHardswish&aclnnInplaceHardswish.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn activation/hard_swish/op_host/op_api/aclnn_hardswish.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_HARDSWISH_H
#define ASCEND_STUB_ACLNNOP_ACLNN_HARDSWISH_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnHardswishGetWorkspaceSize(const aclTensor *self,
                                           const aclTensor *out,
                                           uint64_t *workspaceSize,
                                           aclOpExecutor **executor);

aclnnStatus aclnnHardswish(void *workspace,
                           uint64_t workspaceSize,
                           aclOpExecutor *executor,
                           const aclrtStream stream);

aclnnStatus aclnnInplaceHardswishGetWorkspaceSize(const aclTensor *self,
                                                  uint64_t *workspaceSize,
                                                  aclOpExecutor **executor);

aclnnStatus aclnnInplaceHardswish(void *workspace,
                                  uint64_t workspaceSize,
                                  aclOpExecutor *executor,
                                  const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_HARDSWISH_H */
