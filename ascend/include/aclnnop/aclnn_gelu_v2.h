/*
 * aclnnop/aclnn_gelu_v2.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  activation/gelu_v2/docs/aclnnGeluV2.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn activation/gelu_v2/op_api/aclnn_gelu_v2.h.
 * `approximate`: 0 computes x * Phi(x) exactly (erf), 1 the tanh approximation.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_GELU_V2_H
#define ASCEND_STUB_ACLNNOP_ACLNN_GELU_V2_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnGeluV2GetWorkspaceSize(const aclTensor *x,
                                        int64_t approximate,
                                        aclTensor *y,
                                        uint64_t *workspaceSize,
                                        aclOpExecutor **executor);

aclnnStatus aclnnGeluV2(void *workspace,
                        uint64_t workspaceSize,
                        aclOpExecutor *executor,
                        const aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_GELU_V2_H */
