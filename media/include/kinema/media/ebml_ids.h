// EBML and Matroska element ids (with their length-marker bits, as they appear on the wire).
// Source: RFC 8794 (EBML) and RFC 9559 (Matroska).
#pragma once

#include <cstdint>
#include <string_view>

namespace kinema::media::ebml_id {

// EBML header
inline constexpr std::uint32_t kEbml = 0x1A45DFA3;
inline constexpr std::uint32_t kEbmlVersion = 0x4286;
inline constexpr std::uint32_t kEbmlReadVersion = 0x42F7;
inline constexpr std::uint32_t kEbmlMaxIdLength = 0x42F2;
inline constexpr std::uint32_t kEbmlMaxSizeLength = 0x42F3;
inline constexpr std::uint32_t kDocType = 0x4282;
inline constexpr std::uint32_t kDocTypeVersion = 0x4287;
inline constexpr std::uint32_t kDocTypeReadVersion = 0x4285;
// Global elements, allowed anywhere
inline constexpr std::uint32_t kVoid = 0xEC;
inline constexpr std::uint32_t kCrc32 = 0xBF;

// Segment and its top-level children
inline constexpr std::uint32_t kSegment = 0x18538067;
inline constexpr std::uint32_t kSeekHead = 0x114D9B74;
inline constexpr std::uint32_t kInfo = 0x1549A966;
inline constexpr std::uint32_t kTracks = 0x1654AE6B;
inline constexpr std::uint32_t kCluster = 0x1F43B675;
inline constexpr std::uint32_t kCues = 0x1C53BB6B;
inline constexpr std::uint32_t kChapters = 0x1043A770;
inline constexpr std::uint32_t kTags = 0x1254C367;
inline constexpr std::uint32_t kAttachments = 0x1941A469;

// Info
inline constexpr std::uint32_t kSegmentUid = 0x73A4;
inline constexpr std::uint32_t kTimecodeScale = 0x2AD7B1;
inline constexpr std::uint32_t kDuration = 0x4489;
inline constexpr std::uint32_t kDateUtc = 0x4461;
inline constexpr std::uint32_t kTitle = 0x7BA9;
inline constexpr std::uint32_t kMuxingApp = 0x4D80;
inline constexpr std::uint32_t kWritingApp = 0x5741;

// Tracks
inline constexpr std::uint32_t kTrackEntry = 0xAE;
inline constexpr std::uint32_t kTrackNumber = 0xD7;
inline constexpr std::uint32_t kTrackUid = 0x73C5;
inline constexpr std::uint32_t kTrackType = 0x83;
inline constexpr std::uint32_t kFlagLacing = 0x9C;
inline constexpr std::uint32_t kDefaultDuration = 0x23E383;
inline constexpr std::uint32_t kName = 0x536E;
inline constexpr std::uint32_t kLanguage = 0x22B59C;
inline constexpr std::uint32_t kCodecId = 0x86;
inline constexpr std::uint32_t kCodecPrivate = 0x63A2;
inline constexpr std::uint32_t kCodecName = 0x258688;
inline constexpr std::uint32_t kVideo = 0xE0;
inline constexpr std::uint32_t kPixelWidth = 0xB0;
inline constexpr std::uint32_t kPixelHeight = 0xBA;
inline constexpr std::uint32_t kDisplayWidth = 0x54B0;
inline constexpr std::uint32_t kDisplayHeight = 0x54BA;
inline constexpr std::uint32_t kAudio = 0xE1;
inline constexpr std::uint32_t kSamplingFrequency = 0xB5;
inline constexpr std::uint32_t kChannels = 0x9F;
inline constexpr std::uint32_t kBitDepth = 0x6264;

// Cluster
inline constexpr std::uint32_t kTimecode = 0xE7;
inline constexpr std::uint32_t kPosition = 0xA7;
inline constexpr std::uint32_t kPrevSize = 0xAB;
inline constexpr std::uint32_t kSimpleBlock = 0xA3;
inline constexpr std::uint32_t kBlockGroup = 0xA0;
inline constexpr std::uint32_t kBlock = 0xA1;
inline constexpr std::uint32_t kBlockDuration = 0x9B;
inline constexpr std::uint32_t kReferenceBlock = 0xFB;
inline constexpr std::uint32_t kBlockAdditions = 0x75A1;
inline constexpr std::uint32_t kDiscardPadding = 0x75A2;

// Tags
inline constexpr std::uint32_t kTag = 0x7373;
inline constexpr std::uint32_t kTargets = 0x63C0;
inline constexpr std::uint32_t kTargetTypeValue = 0x68CA;
inline constexpr std::uint32_t kTagTrackUid = 0x63C5;
inline constexpr std::uint32_t kSimpleTag = 0x67C8;
inline constexpr std::uint32_t kTagName = 0x45A3;
inline constexpr std::uint32_t kTagLanguage = 0x447A;
inline constexpr std::uint32_t kTagDefault = 0x4484;
inline constexpr std::uint32_t kTagString = 0x4487;
inline constexpr std::uint32_t kTagBinary = 0x4485;

// A readable name for error messages ("SimpleBlock"), or "" when the id is not one of the above.
std::string_view element_name(std::uint32_t id) noexcept;

}  // namespace kinema::media::ebml_id
