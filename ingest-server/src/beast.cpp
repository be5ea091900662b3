// Beast's compiled functions (BOOST_BEAST_SEPARATE_COMPILATION), built once for the whole program at -O3.
// The reason is WebSocket masking: every byte a producer sends over /putMedia arrives masked, and Beast's
// detail::mask_inplace unmasks it 4 bytes per iteration when GCC 12 compiles it at -O2 (its inner loop is
// unrolled too late for the vectoriser); at -O3 it is a 16-byte SSE2 loop. On the single-stream benchmark
// the -O2 copy was 6% of the server's CPU.
#include <boost/beast/src.hpp>
