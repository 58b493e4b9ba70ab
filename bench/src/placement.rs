//! Which server node each member of a room connects to.

use crate::Endpoint;
use anyhow::{Result, ensure};

/// The nodes a room's members connect to, and which member goes where: the senders round-robin
/// over the sending nodes, the other members round-robin over the receiving nodes. One endpoint
/// for everything is the single-server case.
#[derive(Debug, Clone)]
pub struct Placement {
    nodes: Vec<Endpoint>,
    /// Indices into `nodes`.
    sending: Vec<usize>,
    receiving: Vec<usize>,
}

impl Placement {
    /// Every member on one server.
    pub fn one(endpoint: Endpoint) -> Self {
        Self {
            nodes: vec![endpoint],
            sending: vec![0],
            receiving: vec![0],
        }
    }

    /// Every member, senders included, round-robin over `nodes`.
    pub fn spread(nodes: Vec<Endpoint>) -> Result<Self> {
        ensure!(!nodes.is_empty(), "no nodes");
        let all: Vec<usize> = (0..nodes.len()).collect();
        Ok(Self {
            nodes,
            sending: all.clone(),
            receiving: all,
        })
    }

    /// The senders on `senders`, the other members round-robin over `members`: every delivery
    /// but those between senders crosses from one node to another.
    pub fn senders_apart(senders: Endpoint, members: Vec<Endpoint>) -> Result<Self> {
        ensure!(!members.is_empty(), "no nodes for the members");
        let receiving = (1..=members.len()).collect();
        let mut nodes = vec![senders];
        nodes.extend(members);
        Ok(Self {
            nodes,
            sending: vec![0],
            receiving,
        })
    }

    /// How many nodes there are.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The node member `index` connects to, when the first `senders` members send.
    pub fn node_of(&self, index: usize, senders: usize) -> usize {
        if index < senders {
            self.sending[index % self.sending.len()]
        } else {
            self.receiving[(index - senders) % self.receiving.len()]
        }
    }

    /// The endpoint of node `node`.
    pub fn endpoint(&self, node: usize) -> &Endpoint {
        &self.nodes[node]
    }

    /// How many of `members` connect to each node.
    pub fn members_per_node(&self, members: usize, senders: usize) -> Vec<usize> {
        let mut counts = vec![0; self.nodes.len()];
        for index in 0..members {
            counts[self.node_of(index, senders)] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dialect;

    fn node(port: u16) -> Endpoint {
        Endpoint::new(&format!("ws://127.0.0.1:{port}/ws"), Dialect::Guide).expect("endpoint")
    }

    #[test]
    fn senders_apart_puts_the_senders_on_the_first_node_and_the_rest_round_robin() {
        let placement = Placement::senders_apart(node(1), vec![node(2), node(3)]).expect("valid");
        assert_eq!(placement.members_per_node(100, 10), [10, 45, 45]);
        assert_eq!(placement.node_of(9, 10), 0);
        assert_eq!(placement.node_of(10, 10), 1);
        assert_eq!(placement.node_of(11, 10), 2);
    }

    #[test]
    fn spread_puts_everyone_round_robin() {
        let placement = Placement::spread(vec![node(1), node(2)]).expect("valid");
        assert_eq!(placement.members_per_node(100, 10), [50, 50]);
        assert_eq!(Placement::one(node(1)).members_per_node(5, 1), [5]);
    }
}
