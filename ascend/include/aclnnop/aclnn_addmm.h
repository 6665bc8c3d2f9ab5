/*
 * aclnnop/aclnn_addmm.h -- declaration-only stand-in for the CANN operator header of the same name.
 *
 * Transcribed from the "函数原型" (function prototype) section of the public operator doc:
 *   github.com/hicann/ops-nn  matmul/mat_mul_v3/docs/aclnnAddmm&aclnnInplaceAddmm.md
 *   (snapshot e5c3fa9327ea95ba26d06227e746923580d10921)
 * and checked against the public op_api header github.com/hicann/ops-nn matmul/mat_mul_v3/op_host/op_api/aclnn_addmm.h.
 *
 * Declarations only: nothing here is implemented or linkable. It exists so generated host code
 * can be syntax-checked without the CANN toolkit; real Ascend builds use the toolkit headers.
 */
#ifndef ASCEND_STUB_ACLNNOP_ACLNN_ADDMM_H
#define ASCEND_STUB_ACLNNOP_ACLNN_ADDMM_H

#include <stdint.h>
#include "aclnn/aclnn_base.h"

#ifdef __cplusplus
extern "C" {
#endif

aclnnStatus aclnnAddmmGetWorkspaceSize(const aclTensor *self,
                                       const aclTensor *mat1,
                                       const aclTensor *mat2,
                                       const aclScalar *beta,
                                       const aclScalar *alpha,
                                       aclTensor *out,
                                       int8_t cubeMathType,
                                       uint64_t *workspaceSize,
                                       aclOpExecutor **executor);

aclnnStatus aclnnAddmm(void *workspace,
                       uint64_t workspaceSize,
                       aclOpExecutor *executor,
                       aclrtStream stream);

aclnnStatus aclnnInplaceAddmmGetWorkspaceSize(const aclTensor *selfRef,
                                              const aclTensor *mat1,
                                              const aclTensor *mat2,
                                              const aclScalar *beta,
                                              const aclScalar *alpha,
                                              int8_t cubeMathType,
                                              uint64_t *workspaceSize,
                                              aclOpExecutor **executor);

aclnnStatus aclnnInplaceAddmm(void *workspace,
                              uint64_t workspaceSize,
                              aclOpExecutor *executor,
                              aclrtStream stream);

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNNOP_ACLNN_ADDMM_H */
