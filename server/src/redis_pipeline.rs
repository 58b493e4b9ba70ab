//! Script calls sent to Redis as one pipeline, in order, with their scripts loaded first.

use redis::{
    Pipeline, RedisError, RedisResult, Script, ServerErrorKind, Value, aio::ConnectionManager,
};

/// How many times calls that find their script gone are sent again, with it, before that is
/// their answer.
const MAX_LOADS: u32 = 3;

/// Sends the commands `calls` adds (script calls by hash, with
/// [`Pipeline::invoke_script`], and any others) to Redis as one pipeline behind a `SCRIPT LOAD`
/// of each of `scripts`, and answers each, in order: its reply, a server error as `Err`, or
/// the connection's error for every call not answered.
///
/// Redis runs one connection's commands in order, so the calls take effect in the order they
/// were added; loading the scripts first costs Redis one hash of each per pipeline instead of
/// one per call (as `EVAL` would), and a Redis that restarted and forgot them has them again
/// before the first call. Should they be flushed while the pipeline runs (`SCRIPT FLUSH`
/// between two of its calls), the calls from the first that found its script gone are sent
/// again at once, before the caller sends anything else: nothing sent behind them takes effect
/// before them.
pub fn send_in_order<'c>(
    connection: &'c mut ConnectionManager,
    scripts: &'c [&'c Script],
    calls: impl FnOnce(&mut Pipeline),
) -> impl Future<Output = Vec<RedisResult<Value>>> + 'c {
    // The calls are added now, so that what they borrow need not live in the future.
    let mut pipe = loading(scripts);
    calls(&mut pipe);
    send(connection, scripts, pipe)
}

async fn send(
    connection: &mut ConnectionManager,
    scripts: &[&Script],
    mut pipe: Pipeline,
) -> Vec<RedisResult<Value>> {
    let total = pipe.len() - scripts.len();
    let mut answers = Vec::with_capacity(total);
    for attempt in 1..=MAX_LOADS {
        let before = answers.len();
        let replies: Vec<Value> = match pipe.query_async(connection).await {
            Ok(replies) => replies,
            Err(err) => {
                answers.resize_with(total, || Err(err.clone()));
                break;
            }
        };
        for reply in replies {
            if no_script(&reply) && attempt < MAX_LOADS {
                break;
            }
            answers.push(match reply {
                Value::ServerError(err) => Err(RedisError::from(err)),
                reply => Ok(reply),
            });
        }
        if answers.len() >= total {
            break;
        }
        tracing::debug!(
            calls = total - answers.len(),
            "Redis forgot a script; sent again"
        );
        let mut again = loading(scripts);
        for call in pipe.cmd_iter().skip(scripts.len() + answers.len() - before) {
            again.add_command(call.clone());
        }
        pipe = again;
    }
    answers.resize_with(total, || {
        Err(RedisError::from(std::io::Error::other(
            "Redis gave fewer answers than calls",
        )))
    });
    answers
}

/// A pipeline that goes on past errors and starts by loading `scripts` (their answers not
/// returned).
fn loading(scripts: &[&Script]) -> Pipeline {
    let mut pipe = redis::pipe();
    pipe.ignore_errors();
    for script in scripts {
        pipe.load_script(script).ignore();
    }
    pipe
}

/// Whether Redis answered a call that it has no script of that hash.
fn no_script(reply: &Value) -> bool {
    matches!(reply, Value::ServerError(err) if err.kind() == Some(ServerErrorKind::NoScript))
}
