//! Node agent: runs the pods bound to this node (containers arrive with the data-plane issues).
