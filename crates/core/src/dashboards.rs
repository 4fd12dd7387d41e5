//! The eight dashboards, in the seed's order: the one list that the role areas ([`Area`]), the TUI's
//! tabs (keys 1–8) and the CLI's help order follow. A ninth dashboard is added here first; the
//! exhaustive matches below and the faces' tests then say what else must follow.

use crate::auth::Area;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dashboard {
    Inbox,
    Contacts,
    Pipeline,
    Automation,
    Broadcast,
    Templates,
    Analytics,
    Billing,
}

impl Dashboard {
    pub const ALL: [Dashboard; 8] = [
        Dashboard::Inbox,
        Dashboard::Contacts,
        Dashboard::Pipeline,
        Dashboard::Automation,
        Dashboard::Broadcast,
        Dashboard::Templates,
        Dashboard::Analytics,
        Dashboard::Billing,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Dashboard::Inbox => "Inbox",
            Dashboard::Contacts => "Contacts",
            Dashboard::Pipeline => "Pipeline",
            Dashboard::Automation => "Automation",
            Dashboard::Broadcast => "Broadcast",
            Dashboard::Templates => "Templates",
            Dashboard::Analytics => "Analytics",
            Dashboard::Billing => "Billing",
        }
    }

    /// A title for narrow places (an 80-column tab bar).
    pub fn short_title(self) -> &'static str {
        match self {
            Dashboard::Automation => "Auto",
            Dashboard::Broadcast => "Bcast",
            Dashboard::Templates => "Tmpl",
            Dashboard::Analytics => "Stats",
            Dashboard::Billing => "Bill",
            other => other.title(),
        }
    }

    /// The CLI command and palette entry (`wacrm inbox`, `:inbox`).
    pub fn command(self) -> &'static str {
        match self {
            Dashboard::Inbox => "inbox",
            Dashboard::Contacts => "contacts",
            Dashboard::Pipeline => "pipeline",
            Dashboard::Automation => "automation",
            Dashboard::Broadcast => "broadcast",
            Dashboard::Templates => "templates",
            Dashboard::Analytics => "analytics",
            Dashboard::Billing => "billing",
        }
    }

    /// 1–8, as the seed numbers them (the TUI's keys).
    pub fn number(self) -> usize {
        Dashboard::ALL.iter().position(|d| *d == self).map_or(0, |i| i + 1)
    }

    /// The role area that guards it.
    pub fn area(self) -> Area {
        match self {
            Dashboard::Inbox => Area::Inbox,
            Dashboard::Contacts => Area::Contacts,
            Dashboard::Pipeline => Area::Pipeline,
            Dashboard::Automation => Area::Automation,
            Dashboard::Broadcast => Area::Broadcast,
            Dashboard::Templates => Area::Templates,
            Dashboard::Analytics => Area::Analytics,
            Dashboard::Billing => Area::Billing,
        }
    }
}

impl Area {
    /// The dashboard this area guards (`None` for administration).
    pub fn dashboard(self) -> Option<Dashboard> {
        Dashboard::ALL.into_iter().find(|d| d.area() == self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_has_its_own_area_and_number() {
        for (i, d) in Dashboard::ALL.into_iter().enumerate() {
            assert_eq!(d.number(), i + 1);
            assert_eq!(d.area().dashboard(), Some(d));
        }
        assert_eq!(Area::Admin.dashboard(), None);
    }
}
