//! Huawei Ascend through the `cann` dialect: graph ops to aclnn calls (`convert`), and
//! the C++ program that makes those calls on the aclnn two-phase API (`emit_cpp`).

pub mod convert;
pub mod emit_cpp;

pub use convert::convert_ftensor_to_cann;

#[cfg(test)]
mod mapping_tests;
