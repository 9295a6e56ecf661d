//! Finding a building's domain folders in either naming and at any building level, listing
//! its views, and the report of what was read and what was skipped.

use std::collections::{BTreeSet, HashSet};
use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::names::{ViewName, read_building_split};
use super::{TaskonomyConfig, TaskonomyDomain, TaskonomySplit};
use crate::{Error, Result};

/// How a copy of Taskonomy names its domain folders and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TaskonomyNaming {
    /// The original release, as in its public sample building: `depth/`, `mist/`, `edge2d/`,
    /// `keypoint2d/`, `segmentsemantic/`, `normal/`, `places/`, `softmax1000/`, files
    /// `point_{p}_view_{v}_domain_{folder}.png`.
    Original,
    /// The omnidata downloader's (and the full release's) names: `depth_zbuffer/`,
    /// `depth_euclidean/`, `edge_texture/`, `keypoints2d/`, `segment_semantic/`, `normal/`,
    /// `class_object/`, `class_scene/`.
    Omnidata,
}

impl TaskonomyNaming {
    /// Both namings, in the order they are tried.
    pub const ALL: [TaskonomyNaming; 2] = [TaskonomyNaming::Omnidata, TaskonomyNaming::Original];

    fn describe(self) -> &'static str {
        match self {
            TaskonomyNaming::Original => "the original Taskonomy layout",
            TaskonomyNaming::Omnidata => "the omnidata layout",
        }
    }
}

/// Where the building level sits in a copy's folders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BuildingLevel {
    /// `root/{domain}/{building}/`.
    BelowDomain,
    /// `root/{domain}/taskonomy/{building}/` (the omnidata downloader).
    BelowTaskonomy,
    /// `root/{building}/{domain}/`: one folder per building, each laid out like the public
    /// sample building.
    AboveDomain,
    /// `root/{domain}/`: the root is one building, named in the split file by the root
    /// folder's own name (or `.`).
    None,
}

impl BuildingLevel {
    /// Every level, in the order they are tried.
    pub const ALL: [BuildingLevel; 4] = [
        BuildingLevel::BelowDomain,
        BuildingLevel::BelowTaskonomy,
        BuildingLevel::AboveDomain,
        BuildingLevel::None,
    ];

    /// The folder of `building`'s domain folder `folder` under `root` at this level; `None`
    /// for [`BuildingLevel::None`] unless the root is that building.
    pub fn folder(self, root: &Path, building: &str, folder: &str) -> Option<PathBuf> {
        match self {
            _ if building == "." => (self == BuildingLevel::None).then(|| root.join(folder)),
            BuildingLevel::BelowDomain => Some(root.join(folder).join(building)),
            BuildingLevel::BelowTaskonomy => {
                Some(root.join(folder).join("taskonomy").join(building))
            }
            BuildingLevel::AboveDomain => Some(root.join(building).join(folder)),
            BuildingLevel::None => {
                (root_name(root).as_deref() == Some(building)).then(|| root.join(folder))
            }
        }
    }

    fn describe(self) -> &'static str {
        match self {
            BuildingLevel::BelowDomain => "root/{domain}/{building}/",
            BuildingLevel::BelowTaskonomy => "root/{domain}/taskonomy/{building}/",
            BuildingLevel::AboveDomain => "root/{building}/{domain}/",
            BuildingLevel::None => "no building level: root/{domain}/",
        }
    }
}

/// The root folder's own name (resolving `.` and `..`).
pub(super) fn root_name(root: &Path) -> Option<String> {
    root.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .or_else(|| {
            root.canonicalize()
                .ok()?
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
}

/// Where one domain of one building was found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DomainFolder {
    /// The domain (`None` for the `rgb` images).
    pub domain: Option<TaskonomyDomain>,
    /// The naming its folder follows (the first tried, omnidata, for `rgb` and `normal`,
    /// which both namings spell alike).
    pub naming: TaskonomyNaming,
    /// The building level it was found at.
    pub level: BuildingLevel,
    /// The folder.
    pub path: PathBuf,
}

/// Views of one building skipped because one requested domain has no file for them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedViews {
    /// The first requested domain (in target order) the views lack.
    pub domain: TaskonomyDomain,
    /// Its folder, or `None` when the building has no folder for it at all.
    pub folder: Option<PathBuf>,
    /// How many views.
    pub views: usize,
}

/// What was found for one building.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuildingReport {
    /// The building's id in the split file.
    pub building: String,
    /// Its `rgb` folder.
    pub rgb: DomainFolder,
    /// Each requested domain's folder, in target order (`None`: not found).
    pub targets: Vec<Option<DomainFolder>>,
    /// Usable views: an `rgb` image and a file of every requested domain.
    pub views: usize,
    /// Views skipped, by the domain they lack.
    pub skipped: Vec<SkippedViews>,
}

impl BuildingReport {
    /// The naming of the building's folders: `Some` when every requested domain whose folder
    /// is spelled differently in the two namings was found in the same one.
    pub fn naming(&self) -> Option<TaskonomyNaming> {
        let telling: BTreeSet<bool> = self
            .targets
            .iter()
            .flatten()
            .filter(|f| f.domain.is_some_and(TaskonomyDomain::names_differ))
            .map(|f| f.naming == TaskonomyNaming::Original)
            .collect();
        let telling: Vec<bool> = telling.into_iter().collect();
        match telling.as_slice() {
            [true] => Some(TaskonomyNaming::Original),
            [false] => Some(TaskonomyNaming::Omnidata),
            _ => None,
        }
    }

    /// Views skipped, all reasons together.
    pub fn skipped_views(&self) -> usize {
        self.skipped.iter().map(|s| s.views).sum()
    }

    fn layout(&self) -> String {
        if let Some(naming) = self.naming() {
            return naming.describe().to_string();
        }
        let found: Vec<(TaskonomyDomain, &DomainFolder)> = (self.targets.iter().flatten())
            .filter_map(|f| Some((f.domain.filter(|d| d.names_differ())?, f)))
            .collect();
        if found.is_empty() {
            "the Taskonomy layout (rgb and normal are spelled alike in both namings)".into()
        } else {
            let parts: Vec<String> = found
                .iter()
                .map(|(domain, f)| {
                    format!(
                        "{}: {}",
                        domain.folder_in(f.naming),
                        match f.naming {
                            TaskonomyNaming::Original => "original",
                            TaskonomyNaming::Omnidata => "omnidata",
                        }
                    )
                })
                .collect();
            format!("a mixed layout ({})", parts.join(", "))
        }
    }
}

impl fmt::Display for BuildingReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "read {} view{} of building {} in {} ({})",
            self.views,
            if self.views == 1 { "" } else { "s" },
            self.building,
            self.layout(),
            self.rgb.level.describe()
        )?;
        let skipped = self.skipped_views();
        if skipped > 0 {
            let reasons: Vec<String> = self
                .skipped
                .iter()
                .map(|s| match &s.folder {
                    Some(folder) => format!("{} with no file in {}", s.views, folder.display()),
                    None => format!(
                        "{} because the building has no {} folder (tried {})",
                        s.views,
                        s.domain.folder(),
                        s.domain
                            .folder_names()
                            .iter()
                            .map(|n| format!("{n}/"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
                .collect();
            write!(f, "; skipped {skipped}: {}", reasons.join("; "))?;
        }
        Ok(())
    }
}

/// What opening a split found: every building's layout, views and skipped views.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskonomyReport {
    /// The root.
    pub root: PathBuf,
    /// The split file.
    pub split_file: PathBuf,
    /// The split.
    pub split: TaskonomySplit,
    /// The split's buildings, in split-file order.
    pub buildings: Vec<BuildingReport>,
}

impl TaskonomyReport {
    /// Usable views of all buildings.
    pub fn views(&self) -> usize {
        self.buildings.iter().map(|b| b.views).sum()
    }

    /// Skipped views of all buildings.
    pub fn skipped(&self) -> usize {
        self.buildings
            .iter()
            .map(BuildingReport::skipped_views)
            .sum()
    }
}

impl fmt::Display for TaskonomyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Taskonomy {} split ({}, {} building{} under {}): {} usable view{}, {} skipped",
            self.split.column(),
            self.split_file.display(),
            self.buildings.len(),
            if self.buildings.len() == 1 { "" } else { "s" },
            self.root.display(),
            self.views(),
            if self.views() == 1 { "" } else { "s" },
            self.skipped()
        )?;
        for b in &self.buildings {
            write!(f, "\n  {b}")?;
        }
        Ok(())
    }
}

/// One usable view: its image and one file per requested domain.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct View {
    pub image: PathBuf,
    pub targets: Vec<PathBuf>,
}

/// Finds `folder` of `building`, trying the levels in `levels` order.
fn find(
    root: &Path,
    building: &str,
    names: &[(TaskonomyNaming, &str)],
    levels: &[BuildingLevel],
) -> Option<(PathBuf, TaskonomyNaming, BuildingLevel)> {
    levels.iter().find_map(|&level| {
        names.iter().find_map(|&(naming, name)| {
            level
                .folder(root, building, name)
                .filter(|p| p.is_dir())
                .map(|p| (p, naming, level))
        })
    })
}

fn list(folder: &Path) -> Result<HashSet<OsString>> {
    Ok(std::fs::read_dir(folder)
        .map_err(|source| Error::Io {
            path: folder.to_path_buf(),
            source,
        })?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect())
}

/// Lists the usable views of the configured split and reports every building.
pub(super) fn scan(config: &TaskonomyConfig) -> Result<(Vec<View>, TaskonomyReport)> {
    let buildings = read_building_split(&config.split_file, config.split)?;
    let mut views = Vec::new();
    let mut reports = Vec::new();
    for building in &buildings {
        reports.push(scan_building(config, building, &mut views)?);
    }
    let report = TaskonomyReport {
        root: config.root.clone(),
        split_file: config.split_file.clone(),
        split: config.split,
        buildings: reports,
    };
    Ok((views, report))
}

/// Appends the usable views of `building` to `views` and reports what was found for it.
fn scan_building(
    config: &TaskonomyConfig,
    building: &str,
    views: &mut Vec<View>,
) -> Result<BuildingReport> {
    let (rgb, level) = find_rgb(&config.root, building)?;
    let folders = find_target_folders(config, building, level);
    let listings: Vec<Option<HashSet<OsString>>> = folders
        .iter()
        .map(|f| f.as_ref().map(|f| list(&f.path)).transpose())
        .collect::<Result<_>>()?;
    let names: BTreeSet<ViewName> = list(&rgb)?
        .iter()
        .filter_map(|n| ViewName::parse(&n.to_string_lossy()))
        .filter(|n| n.domain == "rgb")
        .collect();
    let mut usable = 0;
    let mut skipped: Vec<SkippedViews> = Vec::new();
    for name in names {
        match view_targets(&config.targets, &folders, &listings, &name) {
            Ok(targets) => {
                usable += 1;
                views.push(View {
                    image: rgb.join(name.with_domain("rgb", &name.extension)),
                    targets,
                });
            }
            Err(missing) => count_skipped(&mut skipped, missing),
        }
    }
    Ok(BuildingReport {
        building: building.to_string(),
        rgb: DomainFolder {
            domain: None,
            naming: TaskonomyNaming::Omnidata,
            level,
            path: rgb,
        },
        targets: folders,
        views: usable,
        skipped,
    })
}

/// The `rgb` folder of `building` and the level it was found at.
fn find_rgb(root: &Path, building: &str) -> Result<(PathBuf, BuildingLevel)> {
    let rgb_name = [(TaskonomyNaming::Omnidata, "rgb")];
    let (rgb, _, level) =
        find(root, building, &rgb_name, &BuildingLevel::ALL).ok_or_else(|| {
            let tried: Vec<String> = BuildingLevel::ALL
                .iter()
                .filter_map(|l| l.folder(root, building, "rgb"))
                .map(|p| p.display().to_string())
                .collect();
            Error::Dataset(format!(
                "Taskonomy: no rgb folder for building {building:?} (tried {}; without a \
                 building level the root folder itself must be named {building:?})",
                tried.join(", ")
            ))
        })?;
    Ok((rgb, level))
}

/// The folder of each requested domain of `building` (`None`: not found), in either naming,
/// trying the `rgb` folder's `level` first.
fn find_target_folders(
    config: &TaskonomyConfig,
    building: &str,
    level: BuildingLevel,
) -> Vec<Option<DomainFolder>> {
    // The rgb folder's level first: a building is normally laid out one way throughout.
    let mut levels = vec![level];
    levels.extend(BuildingLevel::ALL.iter().filter(|&&l| l != level));
    config
        .targets
        .iter()
        .map(|&domain| {
            let names: Vec<(TaskonomyNaming, &str)> = TaskonomyNaming::ALL
                .iter()
                .map(|&n| (n, domain.folder_in(n)))
                .collect();
            find(&config.root, building, &names, &levels).map(|(path, naming, level)| {
                DomainFolder {
                    domain: Some(domain),
                    naming,
                    level,
                    path,
                }
            })
        })
        .collect()
}

/// The file of every requested domain for view `name`, in target order, or the first domain
/// it lacks (as one skipped view).
fn view_targets(
    targets: &[TaskonomyDomain],
    folders: &[Option<DomainFolder>],
    listings: &[Option<HashSet<OsString>>],
    name: &ViewName,
) -> std::result::Result<Vec<PathBuf>, SkippedViews> {
    let mut files = Vec::with_capacity(targets.len());
    for ((&domain, folder), listing) in targets.iter().zip(folders).zip(listings) {
        let found = folder.as_ref().zip(listing.as_ref()).and_then(|(f, l)| {
            domain
                .file_names(f.naming, name)
                .into_iter()
                .find(|n| l.contains(std::ffi::OsStr::new(n)))
                .map(|n| f.path.join(n))
        });
        match found {
            Some(path) => files.push(path),
            None => {
                return Err(SkippedViews {
                    domain,
                    folder: folder.as_ref().map(|f| f.path.clone()),
                    views: 1,
                });
            }
        }
    }
    Ok(files)
}

/// Counts `missing` in `skipped`, with the views skipped for the same domain and folder.
fn count_skipped(skipped: &mut Vec<SkippedViews>, missing: SkippedViews) {
    match skipped
        .iter_mut()
        .find(|s| s.domain == missing.domain && s.folder == missing.folder)
    {
        Some(s) => s.views += missing.views,
        None => skipped.push(missing),
    }
}
