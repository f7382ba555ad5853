//! `terminagent audit verify [--anchor POS:HASH]`: reads the whole log once,
//! in order, and checks that
//!
//! - positions are dense (1, 2, 3, … without a gap, up to the head);
//! - every event's recorded hash is the one the hash chain gives
//!   (`terminagent_eventstore::chain`: the event as stored and its
//!   predecessor's hash), so no event was changed, removed, inserted or moved;
//! - with an anchor (a head published earlier, `POS:HASH`), the chain's hash
//!   at POS is HASH: the log up to it was not rewritten, not even with every
//!   later hash recomputed to match.
//!
//! The first violation in log order ends the run. Each event also goes to
//! every further [`EventCheck`] (invariant checkers over the whole log), so a
//! check added later costs no second read.

use std::fmt;

use terminagent_eventstore::chain::{ChainFields, ChainTip, EventHash, hash_event};
use terminagent_eventstore::{ChainedEvent, EventStore, StorageError, StoredEvent};
use tokio::sync::mpsc;

/// Events read per page.
const PAGE: usize = 5_000;
/// Pages read ahead while earlier ones are checked.
const PAGES_AHEAD: usize = 2;

/// Further checks over the log, handed each event once in log order (upcast
/// to its current shape, as `EventStore::read_all` gives it).
pub trait EventCheck {
    /// Looks at the event at `position`; `Err((at, what))` names a violation
    /// at `at` (which may be earlier: some findings are decided only by a
    /// later event).
    fn observe(&mut self, position: u64, event: &StoredEvent) -> Result<(), (u64, String)>;

    /// After the last event (the head): a violation only the whole log shows,
    /// with its position.
    fn finish(&mut self, _head: u64) -> Result<(), (u64, String)> {
        Ok(())
    }
}

/// The first thing found wrong with the log, at its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// No event at `position`; the log goes on at `next`.
    Gap { position: u64, next: u64 },
    /// No event at `position`, though the head is `head`.
    Missing { position: u64, head: u64 },
    /// The event at `position` has no recorded hash.
    Unhashed { position: u64 },
    /// The recorded hash at `position` is not the chain's.
    Hash {
        position: u64,
        recorded: EventHash,
        computed: EventHash,
    },
    /// The chain's hash at the anchor's position is not the anchor's.
    Anchor { anchor: ChainTip, found: EventHash },
    /// The anchor lies beyond the head.
    AnchorBeyondHead { anchor: ChainTip, head: u64 },
    /// A further check's finding.
    Check { position: u64, what: String },
}

impl Violation {
    pub fn position(&self) -> u64 {
        match self {
            Violation::Gap { position, .. }
            | Violation::Missing { position, .. }
            | Violation::Unhashed { position }
            | Violation::Hash { position, .. }
            | Violation::Check { position, .. } => *position,
            Violation::Anchor { anchor, .. } | Violation::AnchorBeyondHead { anchor, .. } => anchor.position,
        }
    }
}

impl fmt::Display for Violation {
    /// `position N: what`, one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {}: ", self.position())?;
        match self {
            Violation::Gap { next, .. } => write!(f, "no event (positions skip to {next})"),
            Violation::Missing { head, .. } => write!(f, "no event (the log's head is {head})"),
            Violation::Unhashed { .. } => write!(f, "no recorded hash"),
            Violation::Hash { recorded, computed, .. } => write!(
                f,
                "recorded hash {recorded} differs from the chain's {computed} (the event or its place in the log was changed)"
            ),
            Violation::Anchor { anchor, found } => write!(
                f,
                "the chain's hash {found} differs from the anchor's {} (the log up to the anchor was rewritten)",
                anchor.hash
            ),
            Violation::AnchorBeyondHead { head, .. } => {
                write!(
                    f,
                    "the anchor lies beyond the log's head {head} (the log was cut short)"
                )
            }
            Violation::Check { what, .. } => f.write_str(what),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held over `head.position` events.
    Sound {
        head: ChainTip,
    },
    Violated(Violation),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading the log: {0}")]
    Storage(#[from] StorageError),
}

/// Verifies the log up to its head when the run begins (see the module
/// documentation); `progress` hears each position checked.
pub async fn verify(
    store: &EventStore,
    anchor: Option<ChainTip>,
    checks: &mut [&mut dyn EventCheck],
    mut progress: impl FnMut(u64),
) -> Result<Verdict, VerifyError> {
    let head = store.chain_head().await?.position;
    let mut pages = read_ahead(store, head);
    let mut chain = ChainCheck::new(anchor);
    while let Some(page) = pages.recv().await {
        for chained in page? {
            if let Err(violation) = chain.check(&chained) {
                return Ok(Verdict::Violated(violation));
            }
            if !checks.is_empty() {
                let position = chained.position;
                let event = store.upcast(chained.event)?;
                for check in checks.iter_mut() {
                    if let Err((position, what)) = check.observe(position, &event) {
                        return Ok(Verdict::Violated(Violation::Check { position, what }));
                    }
                }
                progress(position);
            } else {
                progress(chained.position);
            }
        }
    }
    if let Err(violation) = chain.finish(head) {
        return Ok(Verdict::Violated(violation));
    }
    for check in checks.iter_mut() {
        if let Err((position, what)) = check.finish(head) {
            return Ok(Verdict::Violated(Violation::Check { position, what }));
        }
    }
    Ok(Verdict::Sound { head: chain.tip })
}

/// Pages of the log up to `head`, read on a task of their own so that the
/// next pages are fetched while this one is hashed.
fn read_ahead(store: &EventStore, head: u64) -> mpsc::Receiver<Result<Vec<ChainedEvent>, StorageError>> {
    let (pages, receiver) = mpsc::channel(PAGES_AHEAD);
    let store = store.clone();
    tokio::spawn(async move {
        let mut after = 0;
        while after < head {
            let page = match store.read_chain(after, PAGE).await {
                Ok(page) => page,
                Err(error) => {
                    let _ = pages.send(Err(error)).await;
                    return;
                }
            };
            let Some(last) = page.last().map(|chained| chained.position) else {
                return;
            };
            after = last;
            // Events appended after the run began are not part of it.
            let page: Vec<ChainedEvent> = page
                .into_iter()
                .take_while(|chained| chained.position <= head)
                .collect();
            if pages.send(Ok(page)).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// The positions and the hash chain, event by event.
struct ChainCheck {
    anchor: Option<ChainTip>,
    /// The last event checked and the chain's hash there.
    tip: ChainTip,
}

impl ChainCheck {
    fn new(anchor: Option<ChainTip>) -> Self {
        ChainCheck {
            anchor,
            tip: ChainTip::EMPTY,
        }
    }

    fn check(&mut self, chained: &ChainedEvent) -> Result<(), Violation> {
        let expected = self.tip.position + 1;
        if chained.position != expected {
            return Err(Violation::Gap {
                position: expected,
                next: chained.position,
            });
        }
        let computed = hash_event(&self.tip.hash, expected, &ChainFields::of_stored(&chained.event));
        match chained.hash {
            None => return Err(Violation::Unhashed { position: expected }),
            Some(recorded) if recorded != computed => {
                return Err(Violation::Hash {
                    position: expected,
                    recorded,
                    computed,
                });
            }
            Some(_) => {}
        }
        self.tip = ChainTip {
            position: expected,
            hash: computed,
        };
        match self.anchor {
            Some(anchor) if anchor.position == expected && anchor.hash != computed => Err(Violation::Anchor {
                anchor,
                found: computed,
            }),
            _ => Ok(()),
        }
    }

    /// After the last event read: it must be the head, and the anchor (an
    /// empty log's is `0:000…`) must have been passed.
    fn finish(&self, head: u64) -> Result<(), Violation> {
        if self.tip.position < head {
            return Err(Violation::Missing {
                position: self.tip.position + 1,
                head,
            });
        }
        match self.anchor {
            Some(anchor) if anchor.position > head => Err(Violation::AnchorBeyondHead { anchor, head }),
            Some(anchor) if anchor.position == 0 && anchor.hash != EventHash::GENESIS => Err(Violation::Anchor {
                anchor,
                found: EventHash::GENESIS,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_read_as_position_and_what() {
        let hash = EventHash([0xab; 32]);
        let text = Violation::Hash {
            position: 7,
            recorded: hash,
            computed: EventHash::GENESIS,
        }
        .to_string();
        assert!(text.starts_with("position 7: recorded hash abab"), "{text}");
        assert_eq!(
            Violation::Gap { position: 3, next: 5 }.to_string(),
            "position 3: no event (positions skip to 5)"
        );
        let anchor = ChainTip { position: 9, hash };
        assert_eq!(Violation::AnchorBeyondHead { anchor, head: 4 }.position(), 9);
    }
}
