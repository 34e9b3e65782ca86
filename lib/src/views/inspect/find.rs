//! `inspect NAME`: the object a name means, a container first, then an image, a volume or a
//! network, as Docker searches.

use serde::Serialize;

use super::{ContainerJson, container};
use crate::paths::Paths;
use crate::state::{Containers, StateError, truth};
use crate::views::ps::Sizer;
use crate::views::{Result, ViewError};

/// What `inspect --type` restricts the search to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Container,
    Image,
    Volume,
    Network,
}

/// One inspected object, serialized as Docker shows it.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Inspected {
    Container(Box<ContainerJson>),
    Image(Box<crate::image::inspect::ImageInspect>),
    Volume(Box<crate::volume::view::VolumeJson>),
    Network(Box<crate::net::networks::NetworkInspect>),
}

/// Finds `name` as a container (made truthful first), then, unless `kind` says otherwise, as
/// an image, a volume or a network, in Docker's order.
/// `sizes` (`--size`) adds a container's `SizeRw` and `SizeRootFs`.
pub fn find(
    containers: &Containers,
    name: &str,
    kind: Option<Kind>,
    sizes: Option<&mut Sizer>,
) -> Result<Inspected> {
    if matches!(kind, None | Some(Kind::Container)) {
        match containers.resolve(name) {
            Ok(id) => {
                let r = truth::observe(containers, containers.load(&id)?)?;
                let mut doc = container(containers.paths(), &r);
                if let Some(s) = sizes {
                    let (rw, root) = s.sizes(&r);
                    (doc.size_rw, doc.size_root_fs) = (Some(rw), Some(root));
                }
                return Ok(Inspected::Container(Box::new(doc)));
            }
            Err(StateError::NoSuchContainer(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    if matches!(kind, None | Some(Kind::Image))
        && let Some(doc) = image_document(containers.paths(), name)?
    {
        return Ok(Inspected::Image(Box::new(doc)));
    }
    if matches!(kind, None | Some(Kind::Volume))
        && let Ok(v) = crate::volume::Volumes::new(containers.paths()).get(name)
    {
        let doc = crate::volume::view::inspect(containers.paths(), &v);
        return Ok(Inspected::Volume(Box::new(doc)));
    }
    if matches!(kind, None | Some(Kind::Network))
        && let Ok(n) = crate::net::networks::get(containers.paths(), name)
    {
        let doc = crate::net::networks::inspect(containers.paths(), &n)?;
        return Ok(Inspected::Network(Box::new(doc)));
    }
    Err(ViewError::NotFound(match kind {
        Some(Kind::Container) => format!("No such container: {name}"),
        Some(Kind::Image) => format!("No such image: {name}"),
        Some(Kind::Volume) => format!("No such volume: {name}"),
        Some(Kind::Network) => format!("No such network: {name}"),
        None => format!("No such object: {name}"),
    }))
}

/// berth-image's inspect document for `name`, if the store has such an image. A root with no
/// image store is left as it is (inspecting creates nothing).
fn image_document(
    paths: &Paths,
    name: &str,
) -> Result<Option<crate::image::inspect::ImageInspect>> {
    if !paths.images().join("index.json").exists() {
        return Ok(None);
    }
    let store = crate::store::ImageStore::open(paths)?;
    let inv = crate::image::inventory::Inventory::load(&store)?;
    Ok(inv
        .resolve(name)
        .ok()
        .map(|r| crate::image::inspect::document(r.image)))
}
