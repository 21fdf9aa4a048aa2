//! The presence board in the browser (在席確認 / 行き先掲示板) for desk staff:
//! one row per colleague with state, place, expected return, note and the
//! time of the last update, kept live over Server-Sent Events; desk staff set
//! their own state here, which is the same record a SIP PUBLISH writes. Who
//! is looking is proven by a one-time link mailed to the person's address,
//! or by the company's single sign-on proxy; the who-may-see-whom rules apply
//! to every row and every event, exactly as to mail and SIP.
//!
//! `state` holds what every handler shares; `limits` bounds sign-in
//! requests per source and link mails per person in memory; `session` says who is looking
//! (session cookie or proxy user) and checks every change (CSRF, origin);
//! `sign_in` mails sign-in links, turns them into sessions and signs out;
//! `rows` turns presence records into what one viewer may see (the rows, and
//! the map's town areas of the colleagues they may locate) and takes a desk
//! worker's own change; `memo` takes the 伝言メモ desk staff leave for a
//! colleague and their clearing, `memos` keeps them and their bounds;
//! `contact` makes a row's call and mail links; `find` searches people
//! by name, reading and extension; `phones` is IT's Phones page (enrolment
//! codes as QR codes, revoking a lost phone); `tv` the wall display's
//! read-only sessions (issued and revoked there); `office` and `back` write
//! the office states, their 行先, end and 戻り予定 into the record and read
//! them back; `office_clock` ends timed states and sets 在席 at a first
//! sign-in; `events` streams the changes; `pages` serves the
//! HTML, script, style and map with strict headers; `map` draws the
//! prefectures and places towns, `town_areas` outlines a town; `html` escapes
//! text; `routes` maps paths to handlers; `listen` accepts HTTP or HTTPS
//! connections.
//!
//! Imports go one way: each module uses only modules after it in
//! listen, routes, tv, events, rows, memo, find, sign_in, office_clock, office,
//! back, phones, pages, session, state, memos, contact, limits, map, town_areas,
//! html.

mod back;
mod contact;
mod events;
mod find;
mod html;
mod limits;
mod listen;
mod map;
mod memo;
mod office;
mod office_clock;
mod pages;
mod phones;
mod routes;
mod rows;
mod session;
mod sign_in;
mod state;
mod town_areas;
mod tv;

pub use listen::{Listening, bind};
pub use state::{Web, WebError};

/// The supervisor's name for the board's loop.
pub const LOOP: &str = "web";
