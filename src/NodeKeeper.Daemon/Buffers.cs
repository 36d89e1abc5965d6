using System.Buffers;

namespace NodeKeeper.Daemon;

/// <summary>
/// The buffers the daemon holds only while there is data: an unfinished line of an app's pipe (<c>LogPipe</c>), a log
/// file's write buffer during a batch (<c>RotatingFileStream</c>), the decorated lines of a prefixed or timestamped log.
/// ArrayPool.Shared keeps a returned array in the returning thread's own slot first, and on a thread that then ends the
/// array is lost (when each launch drained its pipes on threads of its own, a crash loop of 20 apps piled up tens of
/// MiB that only a full collection gave back). This pool has no per-thread slots: what one thread returns, any other
/// rents again. It keeps no more than a few dozen arrays of a size, never more than were in use at once.
/// </summary>
public static class Buffers
{
    public static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(maxArrayLength: 256 * 1024, maxArraysPerBucket: 64);
}
