/*
 * aclnnop/aclnn_mul.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-math  math/mul/docs/aclnnMul&aclnnInplaceMul.md
 *   (snapshot c41933244c31e44fd496e3bb3212164f8c48c214)
 * and checked against the public op_api header github.com/hicann/ops-math math/mul/op_api/aclnn_mul.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_MUL_H
#define ASCEND_STUB_ACLNNOP_ACLNN_MUL_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnMulGetWorkspaceSize(const aclTensor *self,
                                     const aclTensor *other,
                                     aclTensor *out,
                                     uint64_t *workspaceSize,
                                     aclOpExecutor **executor);

aclnnStatus aclnnMul(void *workspace,
                     uint64_t workspaceSize,
                     aclOpExecutor *executor,
                     aclrtStream stream);

aclnnStatus aclnnInplaceMulGetWorkspaceSize(aclTensor *selfRef,
                                            const aclTensor *other,
                                            uint64_t *workspaceSize,
                                            aclOpExecutor **executor);

aclnnStatus aclnnInplaceMul(void *workspace,
                            uint64_t workspaceSize,
                            aclOpExecutor *executor,
                            aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_MUL_H */
