/*
 * acl/acl.h -- declaration-only stand-in for the CANN umbrella header acl/acl.h.
 *
 * Pulls in the runtime subset (acl/acl_rt.h, acl/acl_base.h) and, for convenience, the
 * aclnn base types and functions (aclnn/acl_meta.h), so that including acl/acl.h alone
 * is enough for host code that creates tensors and calls aclnn operators. (The real
 * CANN acl/acl.h does not include the aclnn headers; code meant for real builds should
 * still include aclnn/aclnn_base.h or the aclnnop/ headers it uses.)
 *
 * Sources: github.com/hicann/runtime docs/zh/api_ref/ (see acl_base.h, acl_rt.h) and
 * github.com/hicann/opbase docs/en/api/nnopbase/aclnn/ (see aclnn/acl_meta.h).
 *
 * Declarations only. Builds for a real Ascend machine use the CANN toolkit's headers.
 */
#ifndef ASCEND_STUB_ACL_ACL_H
#define ASCEND_STUB_ACL_ACL_H

#include "acl/acl_base.h"
#include "acl/acl_rt.h"
#include "aclnn/acl_meta.h"

#endif /* ASCEND_STUB_ACL_ACL_H */
