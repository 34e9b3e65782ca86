//! The content store: atomic writes, locks, the OCI image layout under `<root>/images`, and
//! the modes that keep all of berth's state private to root.

pub mod atomic;
pub mod layout;
pub mod lock;
pub mod private;

pub use layout::ImageStore;
pub use lock::Lock;
