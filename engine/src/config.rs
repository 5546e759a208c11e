//! Server configuration: the choices a deployment makes.

use crate::time::Time;

/// Configuration of one server (one XMPP domain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// The XMPP domain this server hosts.
    pub domain: String,
    /// Create an account on first authentication (Prosody's test setup).
    pub auto_create_accounts: bool,
    /// Check passwords against the store; when false any password is accepted
    /// (Prosody's `insecure` authentication in its test setup).
    pub check_passwords: bool,
    /// Unix time (seconds) of virtual time zero, for `urn:xmpp:delay` stamps.
    pub epoch_unix_secs: i64,
    /// Keep chat/normal messages for accounts with no available resource.
    pub offline_storage: bool,
    /// Offline messages kept per account; more are bounced.
    pub max_offline_messages: usize,
    /// Treat every presence priority as 0 (Prosody's `ignore_presence_priority`).
    pub ignore_presence_priority: bool,
    /// Route stanzas for other domains to peers (`Output::ToPeer`); when false
    /// they are bounced with `remote-server-not-found`, as with s2s disabled.
    pub federation: bool,
    /// Stanzas kept per peer domain while its stream is being opened; more
    /// are bounced with `resource-constraint` (Prosody keeps 32768).
    pub s2s_queue_limit: usize,
    /// After a peer stream fails or breaks, try to reopen it this long
    /// later, and again after each failed attempt, while local sessions
    /// hold presence from that domain; `None`: reopen only on demand.
    /// When a stream comes back after being unavailable, the server
    /// re-probes the remote contacts of its online users.
    pub s2s_retry_after: Option<Time>,
    /// XEP-0310 Presence State Annotations: advertise `urn:xmpp:psa`, learn
    /// clients' features from their XEP-0115 caps, and annotate the
    /// presence held by opted-in sessions.
    pub psa: bool,
    /// XEP-0198 stream management: offer `<sm xmlns='urn:xmpp:sm:3'/>`
    /// after authentication.
    pub stream_management: bool,
    /// How long a resumable session whose connection broke hibernates
    /// before it ends (Prosody's `smacks_hibernation_time`, 600 s).
    pub hibernation_time: Time,
    /// Unacknowledged stanzas kept per session; a session that had to
    /// forget some cannot be resumed (Prosody's `smacks_max_queue_size`).
    pub sm_queue_limit: usize,
    /// Chat and normal messages from a blocked JID to the user's bare JID
    /// are bounced with `service-unavailable` rather than dropped
    /// (Prosody's `bounce_blocked_messages`, on in its test setup).
    pub bounce_blocked_messages: bool,
}

impl ServerConfig {
    /// A configuration like Prosody's scansion test setup for `domain`.
    pub fn new(domain: impl Into<String>) -> ServerConfig {
        ServerConfig {
            domain: domain.into(),
            auto_create_accounts: true,
            check_passwords: false,
            // 2026-01-01T00:00:00Z
            epoch_unix_secs: 1_767_225_600,
            offline_storage: true,
            max_offline_messages: 1000,
            ignore_presence_priority: false,
            federation: false,
            s2s_queue_limit: 32_768,
            s2s_retry_after: Some(Time::from_secs(30)),
            psa: false,
            stream_management: false,
            hibernation_time: Time::from_secs(600),
            sm_queue_limit: 500,
            bounce_blocked_messages: true,
        }
    }
}
