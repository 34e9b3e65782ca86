//! Platforms as users write them (`--platform linux/arm64/v8`).

use std::str::FromStr;

use crate::error::Code;

/// A platform as users write it (`linux/amd64`, `linux/arm64/v8`), matched against index
/// entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl PlatformSpec {
    /// The host's platform in OCI's (Go's) spelling.
    pub fn host() -> Self {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "arm" => "arm",
            other => other,
        };
        PlatformSpec {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        PlatformSpec {
            os: p.os().to_string(),
            architecture: p.architecture().to_string(),
            variant: p.variant().clone(),
        }
    }

    /// Whether an index entry's platform satisfies this spec. A spec without a variant matches
    /// any variant.
    pub fn matches(&self, p: &oci_spec::image::Platform) -> bool {
        let other = PlatformSpec::from_oci(p);
        other.os == self.os
            && other.architecture == self.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }
}

impl FromStr for PlatformSpec {
    type Err = crate::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || {
            crate::Error::new(
                Code::BAD_ARGS,
                format!("invalid platform {s:?}: expected OS/ARCH[/VARIANT], e.g. linux/amd64"),
            )
        };
        match parts.as_slice() {
            [os, arch] if !os.is_empty() && !arch.is_empty() => Ok(PlatformSpec {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] if !os.is_empty() && !arch.is_empty() && !v.is_empty() => {
                Ok(PlatformSpec {
                    os: os.to_string(),
                    architecture: arch.to_string(),
                    variant: Some(v.to_string()),
                })
            }
            _ => Err(bad()),
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_match() {
        let p: PlatformSpec = "linux/arm64/v8".parse().unwrap();
        assert_eq!(p.to_string(), "linux/arm64/v8");
        assert!("linux".parse::<PlatformSpec>().is_err());
        assert_eq!(PlatformSpec::host().os, "linux");
    }
}
