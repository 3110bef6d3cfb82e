"""Wire layer: protobuf frames (``netobj_pb2``) and CBOR values (``codec``)."""
