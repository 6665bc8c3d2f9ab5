/*
 * aclnn/aclnn_base.h -- declaration-only stand-in for the CANN header that every
 * aclnnop/aclnn_*.h header includes.
 *
 * Transcribed from github.com/hicann/opbase docs/en/api/nnopbase/aclnn/aclnnInit.md and
 * aclnnFinalize.md (snapshot aa3cd74b7f6d772acd64ff48292a7e65a9bc8142); base types come
 * from aclnn/acl_meta.h, aclrtStream from acl/acl_base.h.
 *
 * Declarations only. Builds for a real Ascend machine use the CANN toolkit's headers.
 */
#ifndef ASCEND_STUB_ACLNN_ACLNN_BASE_H
#define ASCEND_STUB_ACLNN_ACLNN_BASE_H

#include <stdint.h>
#include "acl/acl_base.h"
#include "aclnn/acl_meta.h"

#ifdef __cplusplus
extern "C" {
#endif

ACL_FUNC_VISIBILITY aclnnStatus aclnnInit(const char *configPath);
ACL_FUNC_VISIBILITY aclnnStatus aclnnFinalize();

#ifdef __cplusplus
}
#endif

#endif /* ASCEND_STUB_ACLNN_ACLNN_BASE_H */
