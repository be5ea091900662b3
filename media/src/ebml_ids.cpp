#include "kinema/media/ebml_ids.h"

namespace kinema::media::ebml_id {

std::string_view element_name(std::uint32_t id) noexcept {
    switch (id) {
        case kEbml: return "EBML";
        case kEbmlVersion: return "EBMLVersion";
        case kEbmlReadVersion: return "EBMLReadVersion";
        case kEbmlMaxIdLength: return "EBMLMaxIDLength";
        case kEbmlMaxSizeLength: return "EBMLMaxSizeLength";
        case kDocType: return "DocType";
        case kDocTypeVersion: return "DocTypeVersion";
        case kDocTypeReadVersion: return "DocTypeReadVersion";
        case kVoid: return "Void";
        case kCrc32: return "CRC-32";
        case kSegment: return "Segment";
        case kSeekHead: return "SeekHead";
        case kInfo: return "Info";
        case kTracks: return "Tracks";
        case kCluster: return "Cluster";
        case kCues: return "Cues";
        case kChapters: return "Chapters";
        case kTags: return "Tags";
        case kAttachments: return "Attachments";
        case kSegmentUid: return "SegmentUID";
        case kTimecodeScale: return "TimestampScale";
        case kDuration: return "Duration";
        case kDateUtc: return "DateUTC";
        case kTitle: return "Title";
        case kMuxingApp: return "MuxingApp";
        case kWritingApp: return "WritingApp";
        case kTrackEntry: return "TrackEntry";
        case kTrackNumber: return "TrackNumber";
        case kTrackUid: return "TrackUID";
        case kTrackType: return "TrackType";
        case kFlagLacing: return "FlagLacing";
        case kDefaultDuration: return "DefaultDuration";
        case kName: return "Name";
        case kLanguage: return "Language";
        case kCodecId: return "CodecID";
        case kCodecPrivate: return "CodecPrivate";
        case kCodecName: return "CodecName";
        case kVideo: return "Video";
        case kPixelWidth: return "PixelWidth";
        case kPixelHeight: return "PixelHeight";
        case kDisplayWidth: return "DisplayWidth";
        case kDisplayHeight: return "DisplayHeight";
        case kAudio: return "Audio";
        case kSamplingFrequency: return "SamplingFrequency";
        case kChannels: return "Channels";
        case kBitDepth: return "BitDepth";
        case kTimecode: return "Timestamp";
        case kPosition: return "Position";
        case kPrevSize: return "PrevSize";
        case kSimpleBlock: return "SimpleBlock";
        case kBlockGroup: return "BlockGroup";
        case kBlock: return "Block";
        case kBlockDuration: return "BlockDuration";
        case kReferenceBlock: return "ReferenceBlock";
        case kBlockAdditions: return "BlockAdditions";
        case kDiscardPadding: return "DiscardPadding";
        case kTag: return "Tag";
        case kTargets: return "Targets";
        case kTargetTypeValue: return "TargetTypeValue";
        case kTagTrackUid: return "TagTrackUID";
        case kSimpleTag: return "SimpleTag";
        case kTagName: return "TagName";
        case kTagLanguage: return "TagLanguage";
        case kTagDefault: return "TagDefault";
        case kTagString: return "TagString";
        case kTagBinary: return "TagBinary";
        default: return {};
    }
}

}  // namespace kinema::media::ebml_id
