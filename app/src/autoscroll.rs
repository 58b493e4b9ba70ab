//! `Autoscroll`: keeps a message list pinned to its newest message unless the user scrolled up.

/// How close to the bottom, in CSS pixels, still counts as "at the bottom".
pub const STICKY_PX: f64 = 48.0;

/// Keeps a list scrolled to the bottom as messages arrive, as long as the user is there; once
/// they scroll up to read, new messages no longer move the view, and are counted as unseen
/// until they come back down (or press "jump to latest").
///
/// ```
/// use tether_app::autoscroll::Autoscroll;
///
/// let mut scroll = Autoscroll::default();
/// assert!(scroll.added(1, false)); // at the bottom: follow
/// scroll.scrolled(1500.0, 2000.0, 500.0);
/// scroll.scrolled(0.0, 2000.0, 500.0); // the user scrolled to the top
/// assert!(!scroll.added(1, false)); // stay put
/// assert_eq!(scroll.unseen(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Autoscroll {
    stuck: bool,
    unseen: usize,
    // Where the last scroll event left the list. Only a move *up* lets go of the bottom: content
    // growing under a programmatic scroll also leaves the list short of the bottom for a moment,
    // and must not count as the user scrolling away.
    top: f64,
}

impl Default for Autoscroll {
    fn default() -> Self {
        Self {
            stuck: true,
            unseen: 0,
            top: 0.0,
        }
    }
}

impl Autoscroll {
    /// The list was scrolled (by the user or by us) to `top`, of `height` in all, showing
    /// `visible` of it.
    pub fn scrolled(&mut self, top: f64, height: f64, visible: f64) {
        if height - top - visible <= STICKY_PX {
            self.stuck = true;
            self.unseen = 0;
        } else if top < self.top {
            self.stuck = false;
        }
        self.top = top;
    }

    /// `count` new messages were added; `mine` if the newest is the user's own (sending always
    /// shows it). Returns whether to scroll to the bottom.
    pub fn added(&mut self, count: usize, mine: bool) -> bool {
        if self.stuck || mine {
            self.stuck = true;
            self.unseen = 0;
            true
        } else {
            self.unseen += count;
            false
        }
    }

    /// The user asked to jump to the newest message.
    pub fn jump(&mut self) {
        self.stuck = true;
        self.unseen = 0;
    }

    /// Whether the list follows new messages.
    pub fn is_stuck(&self) -> bool {
        self.stuck
    }

    /// How many additions arrived while the user was scrolled up.
    pub fn unseen(&self) -> usize {
        self.unseen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_new_messages_at_the_bottom() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        assert!(scroll.added(1, false));
    }

    #[test]
    fn near_the_bottom_still_counts() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        scroll.scrolled(1460.0, 2000.0, 500.0);
        assert!(scroll.is_stuck());
        scroll.scrolled(1400.0, 2000.0, 500.0);
        assert!(!scroll.is_stuck());
    }

    #[test]
    fn content_growing_under_a_follow_is_not_the_user_scrolling_away() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        // A burst added 3000 px before the scroll event of our own scroll to 1500 arrived.
        scroll.scrolled(1500.0, 5000.0, 500.0);
        assert!(scroll.is_stuck());
        assert!(scroll.added(100, false));
    }

    #[test]
    fn does_not_fight_a_user_who_scrolled_up() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        scroll.scrolled(200.0, 2000.0, 500.0);
        assert!(!scroll.added(1, false));
        assert!(!scroll.added(3, false));
        assert_eq!(scroll.unseen(), 4);
        scroll.scrolled(1600.0, 2100.0, 500.0);
        assert_eq!(scroll.unseen(), 0);
        assert!(scroll.is_stuck());
    }

    #[test]
    fn sending_scrolls_down_even_when_scrolled_up() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        scroll.scrolled(0.0, 2000.0, 500.0);
        assert!(scroll.added(1, true));
        assert!(scroll.is_stuck());
    }

    #[test]
    fn jump_resets_the_unseen_count() {
        let mut scroll = Autoscroll::default();
        scroll.scrolled(1500.0, 2000.0, 500.0);
        scroll.scrolled(0.0, 2000.0, 500.0);
        scroll.added(1, false);
        scroll.jump();
        assert_eq!(scroll.unseen(), 0);
        assert!(scroll.is_stuck());
    }
}
