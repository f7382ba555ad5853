//! The Decider: a decision is a pure function of a command and the state folded
//! from past events; the events it returns are the only effect.

/// One consistency boundary's logic. The state is rebuilt by folding exactly the
/// events the caller read (possibly from several streams), and the caller appends
/// the decided events only if none of those streams moved meanwhile.
pub trait Decider {
    type Command;
    type Event;
    type State: Default;
    type Error: std::error::Error;

    /// The events that carry out `command` given `state`, or why it is refused.
    /// No events means "nothing to do" (e.g. a repeated idempotent command).
    fn decide(command: &Self::Command, state: &Self::State) -> Result<Vec<Self::Event>, Self::Error>;

    /// The state after `event`; ignores events it does not care about.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::State::default(), Self::evolve)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A counter that may not go below zero: the smallest decider with a rule.
    pub(crate) struct Counter;

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum CounterCommand {
        Add(u32),
        Take(u32),
    }

    #[derive(Debug, Clone, PartialEq)]
    pub(crate) enum CounterEvent {
        Added(u32),
        Taken(u32),
    }

    #[derive(Debug, Clone, PartialEq, thiserror::Error)]
    #[error("cannot take {wanted}, only {available} left")]
    pub(crate) struct NotEnough {
        pub wanted: u32,
        pub available: u32,
    }

    impl Decider for Counter {
        type Command = CounterCommand;
        type Event = CounterEvent;
        type State = u32;
        type Error = NotEnough;

        fn decide(command: &CounterCommand, state: &u32) -> Result<Vec<CounterEvent>, NotEnough> {
            match *command {
                CounterCommand::Add(0) | CounterCommand::Take(0) => Ok(vec![]),
                CounterCommand::Add(n) => Ok(vec![CounterEvent::Added(n)]),
                CounterCommand::Take(n) if n > *state => Err(NotEnough {
                    wanted: n,
                    available: *state,
                }),
                CounterCommand::Take(n) => Ok(vec![CounterEvent::Taken(n)]),
            }
        }

        fn evolve(state: u32, event: &CounterEvent) -> u32 {
            match event {
                CounterEvent::Added(n) => state + n,
                CounterEvent::Taken(n) => state - n,
            }
        }
    }

    #[test]
    fn fold_starts_from_default_and_applies_in_order() {
        assert_eq!(Counter::fold(&[]), 0);
        let events = [CounterEvent::Added(5), CounterEvent::Taken(2), CounterEvent::Added(1)];
        assert_eq!(Counter::fold(&events), 4);
    }

    #[test]
    fn decide_then_evolve_reaches_the_new_state() {
        let state = Counter::fold(&[CounterEvent::Added(3)]);
        let events = Counter::decide(&CounterCommand::Take(2), &state).unwrap();
        assert_eq!(events.iter().fold(state, Counter::evolve), 1);
        assert_eq!(
            Counter::decide(&CounterCommand::Take(4), &state),
            Err(NotEnough {
                wanted: 4,
                available: 3
            })
        );
    }
}
