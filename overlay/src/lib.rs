//! Pod networking: node subnets, bridge + veth, the UDP overlay and Service NAT (data-plane issues).
