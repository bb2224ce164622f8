"""The SegAnyPET network itself (segment-anything's ``modeling``): its configurations, encoders,
decoder and builders; nothing here knows about images on disk, crops or the node."""
