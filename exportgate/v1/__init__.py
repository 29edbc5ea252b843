"""Generated from proto/exportgate/v1 by scripts/gen_proto.py. Do not edit."""
