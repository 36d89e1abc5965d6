using System.Buffers;

namespace NodeKeeper.Daemon;

/// <summary>
/// The read buffers of every app's pipes and IPC channel. Each launch drains its pipes on threads of its own, and
/// ArrayPool.Shared keeps a returned array in the returning thread's own slot first: on a thread that then ends, the
/// array is lost. So each restart allocated its buffers anew (two 64 KiB pipe buffers, and for prefixed or timestamped
/// logs two 128 KiB line buffers on the large object heap), and a crash loop of 20 apps piled up tens of MiB that
/// only a full collection gives back. This pool has no
/// per-thread slots: what a thread returns, the next launch's threads rent again. It keeps no more than a few dozen
/// arrays of a size, never more than were in use at once.
/// </summary>
public static class Buffers
{
    public static readonly ArrayPool<byte> Pool = ArrayPool<byte>.Create(maxArrayLength: 256 * 1024, maxArraysPerBucket: 64);
}
