//! The book's chapter on rules across aggregates: a unique username held by a reservation
//! aggregate (a stream per name, so its version decides between concurrent claims), and "a
//! member holds at most three books" kept by the aggregate that owns the count, with the book's
//! own rule checked after and compensated. Tested on Postgres with concurrent commands.

use chronicle::prelude::*;
use chronicle::sqlx::PgConnection;
use serde::{Deserialize, Serialize};

// ANCHOR: reservation
/// A username was taken by a user.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "users.UsernameClaimed")]
pub struct UsernameClaimed {
    pub username: String,
    pub user_id: String,
}

/// A username was given back.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "users.UsernameReleased")]
pub struct UsernameReleased {
    pub username: String,
    pub user_id: String,
}

/// Take a username for a user: the reservation's stream id is the name itself.
#[derive(Command, Debug, Clone)]
#[command(aggregate = Username)]
pub struct ClaimUsername {
    #[id]
    pub username: String,
    pub user_id: String,
}

/// Give a username back (only its holder can).
#[derive(Command, Debug, Clone)]
#[command(aggregate = Username)]
pub struct ReleaseUsername {
    #[id]
    pub username: String,
    pub user_id: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UsernameError {
    #[error("username {0} is taken")]
    Taken(String),
}

/// One username: who holds it, if anyone. Every claim of the name is decided on this one stream,
/// so two concurrent claims cannot both win: the second one's append meets the first one's
/// version, is retried on the new state, and is refused.
#[derive(Default, Clone, Debug)]
pub struct Username {
    holder: Option<String>,
}

#[aggregate(name = "users.Username")]
impl Username {
    #[handle]
    fn claim(&self, command: &ClaimUsername) -> Result<Option<UsernameClaimed>, UsernameError> {
        match &self.holder {
            // The same user again (a retry after a crash): nothing to record.
            Some(holder) if *holder == command.user_id => Ok(None),
            Some(_) => Err(UsernameError::Taken(command.username.clone())),
            None => Ok(Some(UsernameClaimed {
                username: command.username.clone(),
                user_id: command.user_id.clone(),
            })),
        }
    }

    #[handle]
    fn release(&self, command: &ReleaseUsername) -> Result<Option<UsernameReleased>, UsernameError> {
        match &self.holder {
            Some(holder) if *holder == command.user_id => Ok(Some(UsernameReleased {
                username: command.username.clone(),
                user_id: command.user_id.clone(),
            })),
            // Held by another user, or by nobody: not this user's to give back.
            _ => Ok(None),
        }
    }

    #[apply]
    fn claimed(&mut self, event: &UsernameClaimed) {
        self.holder = Some(event.user_id.clone());
    }

    #[apply]
    fn released(&mut self, _event: &UsernameReleased) {
        self.holder = None;
    }
}
// ANCHOR_END: reservation

impl Username {
    /// Who holds the name.
    pub fn holder(&self) -> Option<&str> {
        self.holder.as_deref()
    }
}

/// A user registered under a username.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "users.UserRegistered")]
pub struct UserRegistered {
    pub user_id: String,
    pub username: String,
}

/// Register a user.
#[derive(Command, Debug, Clone)]
#[command(aggregate = User)]
pub struct RegisterUser {
    #[id]
    pub user_id: String,
    pub username: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UserError {
    #[error("user {0} is registered already, under another name")]
    Registered(String),
}

/// A user.
#[derive(Default, Clone, Debug)]
pub struct User {
    username: Option<String>,
}

#[aggregate(name = "users.User")]
impl User {
    #[handle]
    fn register(&self, command: &RegisterUser) -> Result<Option<UserRegistered>, UserError> {
        match &self.username {
            Some(name) if *name == command.username => Ok(None),
            Some(_) => Err(UserError::Registered(command.user_id.clone())),
            None => Ok(Some(UserRegistered {
                user_id: command.user_id.clone(),
                username: command.username.clone(),
            })),
        }
    }

    #[apply]
    fn registered(&mut self, event: &UserRegistered) {
        self.username = Some(event.username.clone());
    }
}

// ANCHOR: register
/// Why a registration did not happen.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error(transparent)]
    Username(#[from] CommandError<UsernameError>),
    #[error(transparent)]
    User(#[from] CommandError<UserError>),
}

/// Registers `user_id` as `username`, which no other user may hold: the name is claimed first
/// (the rule's own aggregate decides), then the user is registered; if that fails, the name is
/// given back. A crash between the two leaves the name held by `user_id`, which running this
/// again for the same user completes (both steps are idempotent for their holder).
pub async fn register<S: EventStore>(
    app: &Chronicle<S>,
    user_id: &str,
    username: &str,
) -> Result<(), RegistrationError> {
    app.execute(ClaimUsername {
        username: username.into(),
        user_id: user_id.into(),
    })
    .await?;
    let registered = app
        .execute(RegisterUser {
            user_id: user_id.into(),
            username: username.into(),
        })
        .await;
    if let Err(refused) = registered {
        // The compensation: the name goes back. If even that fails, the name stays held by a
        // user that does not exist, which a retry of this function for the user repairs.
        let _ = app
            .execute(ReleaseUsername {
                username: username.into(),
                user_id: user_id.into(),
            })
            .await;
        return Err(refused.into());
    }
    Ok(())
}
// ANCHOR_END: register

// ANCHOR: member
/// A member borrowed a book.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "library.BookBorrowed")]
pub struct BookBorrowed {
    pub member_id: String,
    pub book_id: String,
}

/// A member gave a book back.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "library.BookReturned")]
pub struct BookReturned {
    pub member_id: String,
    pub book_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Member)]
pub struct Borrow {
    #[id]
    pub member_id: String,
    pub book_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = Member)]
pub struct GiveBack {
    #[id]
    pub member_id: String,
    pub book_id: String,
}

/// The most books a member holds at once.
pub const LOAN_LIMIT: usize = 3;

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum MemberError {
    #[error("member {0} holds {LOAN_LIMIT} books already")]
    LimitReached(String),
}

/// A member and the books they hold: the count the rule is about lives here, so the member's
/// stream decides every loan of the member, one at a time.
#[derive(Default, Clone, Debug)]
pub struct Member {
    loans: std::collections::BTreeSet<String>,
}

#[aggregate(name = "library.Member")]
impl Member {
    #[handle]
    fn borrow(&self, command: &Borrow) -> Result<Option<BookBorrowed>, MemberError> {
        if self.loans.contains(&command.book_id) {
            return Ok(None);
        }
        if self.loans.len() >= LOAN_LIMIT {
            return Err(MemberError::LimitReached(command.member_id.clone()));
        }
        Ok(Some(BookBorrowed {
            member_id: command.member_id.clone(),
            book_id: command.book_id.clone(),
        }))
    }

    #[handle]
    fn give_back(&self, command: &GiveBack) -> Result<Option<BookReturned>, MemberError> {
        Ok(self.loans.contains(&command.book_id).then(|| BookReturned {
            member_id: command.member_id.clone(),
            book_id: command.book_id.clone(),
        }))
    }

    #[apply]
    fn borrowed(&mut self, event: &BookBorrowed) {
        self.loans.insert(event.book_id.clone());
    }

    #[apply]
    fn returned(&mut self, event: &BookReturned) {
        self.loans.remove(&event.book_id);
    }
}
// ANCHOR_END: member

impl Member {
    /// The books the member holds.
    pub fn loans(&self) -> impl Iterator<Item = &str> {
        self.loans.iter().map(String::as_str)
    }
}

/// A copy was lent to a member.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(name = "library.CopyLent")]
pub struct CopyLent {
    pub book_id: String,
    pub member_id: String,
}

#[derive(Command, Debug, Clone)]
#[command(aggregate = BookCopy)]
pub struct LendCopy {
    #[id]
    pub book_id: String,
    pub member_id: String,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum CopyError {
    #[error("book {0} is lent to someone else")]
    Lent(String),
}

/// One copy of a book: lent to at most one member (its own rule).
#[derive(Default, Clone, Debug)]
pub struct BookCopy {
    lent_to: Option<String>,
}

#[aggregate(name = "library.BookCopy")]
impl BookCopy {
    #[handle]
    fn lend(&self, command: &LendCopy) -> Result<Option<CopyLent>, CopyError> {
        match &self.lent_to {
            Some(member) if *member == command.member_id => Ok(None),
            Some(_) => Err(CopyError::Lent(command.book_id.clone())),
            None => Ok(Some(CopyLent {
                book_id: command.book_id.clone(),
                member_id: command.member_id.clone(),
            })),
        }
    }

    #[apply]
    fn lent(&mut self, event: &CopyLent) {
        self.lent_to = Some(event.member_id.clone());
    }
}

// ANCHOR: lend
/// Why a loan did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LoanError {
    #[error(transparent)]
    Member(#[from] CommandError<MemberError>),
    #[error(transparent)]
    Copy(#[from] CommandError<CopyError>),
}

/// Lends `book_id` to `member_id`: the member's limit first (on the member's stream), then the
/// copy's availability (on the copy's); a copy that is lent already gives the member's loan back.
pub async fn lend<S: EventStore>(
    app: &Chronicle<S>,
    member_id: &str,
    book_id: &str,
) -> Result<(), LoanError> {
    app.execute(Borrow {
        member_id: member_id.into(),
        book_id: book_id.into(),
    })
    .await?;
    if let Err(refused) = app
        .execute(LendCopy {
            book_id: book_id.into(),
            member_id: member_id.into(),
        })
        .await
    {
        let _ = app
            .execute(GiveBack {
                member_id: member_id.into(),
                book_id: book_id.into(),
            })
            .await;
        return Err(refused.into());
    }
    Ok(())
}
// ANCHOR_END: lend

// ANCHOR: reaction
/// Every account opened gets a welcome bonus: a projection whose handler sends a command. Its
/// read model is only its checkpoint (the bank's own views keep the balances).
pub struct WelcomeBonus {
    pub bank: Chronicle<PostgresStore>,
}

#[projection(name = "bank.welcome_bonus", version = 1)]
impl WelcomeBonus {
    #[on]
    async fn opened(
        &self,
        event: &bank::AccountOpened,
        meta: &RecordedEvent,
        _db: &mut PgConnection,
    ) -> Result<(), CommandError<bank::BankError>> {
        // The same command id each time this event is handled: after a crash, and in a rebuild,
        // the deposit is re-submitted and executed once.
        let context = meta.reaction("bank.welcome_bonus", 0);
        let deposit = bank::Deposit {
            account_id: event.account_id.clone(),
            amount: 10,
        };
        self.bank.execute_with(deposit, context).await.map(drop)
    }
}
// ANCHOR_END: reaction

#[cfg(test)]
mod tests {
    use chronicle_tests::support;
    use futures_util::future::join_all;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn eight_users_racing_for_one_name_leave_one_holder() {
        let store = support::postgres_store().await;
        let app = Chronicle::new(store.clone());
        let users: Vec<String> = (1..=8).map(|n| format!("u-{n}")).collect();
        // A handle each, as eight processes would have: their appends meet in the database.
        let handles: Vec<_> = users.iter().map(|_| Chronicle::new(store.clone())).collect();
        let outcomes = join_all(
            users
                .iter()
                .zip(&handles)
                .map(|(user, handle)| register(handle, user, "ada")),
        )
        .await;
        let winners: Vec<&String> = users
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(user, _)| user)
            .collect();
        assert_eq!(winners.len(), 1, "{outcomes:?}");
        for outcome in outcomes.iter().filter(|o| o.is_err()) {
            assert!(
                matches!(
                    outcome,
                    Err(RegistrationError::Username(CommandError::Rejected(UsernameError::Taken(name)))) if name == "ada"
                ),
                "{outcome:?}"
            );
        }
        let name = app.load::<Username>("ada").await.unwrap();
        assert_eq!(name.state.holder(), Some(winners[0].as_str()));
        // Only the winner's user stream exists; a retry of the winner's registration is a no-op.
        for user in &users {
            let registered = app.load::<User>(user).await.unwrap().version > 0;
            assert_eq!(registered, user == winners[0], "{user}");
        }
        register(&app, winners[0], "ada")
            .await
            .expect("idempotent for its holder");
        assert_eq!(app.load::<Username>("ada").await.unwrap().version, 1);
        support::drop_schema(store.pool(), store.schema()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_member_with_two_books_racing_for_eight_gets_one() {
        let store = support::postgres_store().await;
        let app = Chronicle::new(store.clone());
        lend(&app, "m-1", "b-1").await.unwrap();
        lend(&app, "m-1", "b-2").await.unwrap();
        let books: Vec<String> = (3..=10).map(|n| format!("b-{n}")).collect();
        let handles: Vec<_> = books.iter().map(|_| Chronicle::new(store.clone())).collect();
        let outcomes = join_all(
            books
                .iter()
                .zip(&handles)
                .map(|(book, handle)| lend(handle, "m-1", book)),
        )
        .await;
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
        assert!(outcomes.iter().filter(|o| o.is_err()).all(|o| matches!(
            o,
            Err(LoanError::Member(CommandError::Rejected(
                MemberError::LimitReached(_)
            )))
        )));
        let member = app.load::<Member>("m-1").await.unwrap();
        assert_eq!(member.state.loans().count(), LOAN_LIMIT);
        // Every copy the member holds is lent to them, and no other.
        let mut lent = 0;
        for book in (1..=10).map(|n| format!("b-{n}")) {
            let copy = app.load::<BookCopy>(&book).await.unwrap();
            if copy.version > 0 {
                lent += 1;
                assert!(member.state.loans().any(|b| b == book), "{book}");
            }
        }
        assert_eq!(lent, LOAN_LIMIT);
        support::drop_schema(store.pool(), store.schema()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reaction_replayed_sends_its_command_once() {
        use std::time::Duration;

        use chronicle::Locations as _;

        let store = support::postgres_store().await;
        let read = support::postgres_read_store_beside(&store).await;
        let bank = Chronicle::new(store.clone());
        let opened = bank
            .execute_with(
                bank::OpenAccount {
                    account_id: "a-1".into(),
                    owner: "Ada".into(),
                    overdraft_limit: 0,
                },
                CommandContext::new().actor("ada"),
            )
            .await
            .unwrap();
        let balance = || async { bank.load::<bank::Account>("a-1").await.unwrap().state.balance() };
        // Applied twice, as after a crash before the checkpoint: the first runner, then a second
        // one reading from the start (the projection's checkpoint deleted under it).
        for _ in 0..2 {
            let runner =
                ProjectionRunner::new(store.clone(), read.clone(), WelcomeBonus { bank: bank.clone() })
                    .spawn();
            runner
                .wait_until_caught_up(Duration::from_secs(30))
                .await
                .unwrap();
            runner.stop().await.into_result().unwrap();
            assert_eq!(balance().await, 10, "the bonus once");
            read.delete_checkpoint("bank.welcome_bonus").await.unwrap();
        }
        let history = bank.history::<bank::Account>("a-1").await.unwrap();
        assert_eq!(history.len(), 2, "opened, and one bonus");
        let (opening, bonus) = (&history[0], &history[1]);
        assert_eq!(bonus.metadata.correlation_id, opening.metadata.correlation_id);
        assert_eq!(bonus.metadata.causation_id, opening.event_id);
        assert_eq!(bonus.metadata.actor.as_deref(), Some("ada"));
        assert_eq!(opened.stream_version, 1);
        support::drop_schema(store.pool(), store.schema()).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_copy_lent_elsewhere_gives_the_members_loan_back() {
        let store = support::postgres_store().await;
        let app = Chronicle::new(store.clone());
        lend(&app, "m-1", "b-1").await.unwrap();
        let refused = lend(&app, "m-2", "b-1").await;
        assert!(
            matches!(
                refused,
                Err(LoanError::Copy(CommandError::Rejected(CopyError::Lent(_))))
            ),
            "{refused:?}"
        );
        let member = app.load::<Member>("m-2").await.unwrap();
        assert_eq!(member.state.loans().count(), 0, "the compensation gave it back");
        assert_eq!(
            member.version, 2,
            "borrowed, then returned: both in the member's history"
        );
        support::drop_schema(store.pool(), store.schema()).await;
    }
}
