"""The AWS emulator: EC2, Classic ELB, Auto Scaling and Route 53 on one loopback port."""
