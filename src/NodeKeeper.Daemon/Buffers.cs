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

/// <summary>
/// An <see cref="IBufferWriter{T}"/> over arrays of <see cref="Buffers.Pool"/>: a control answer about hundreds of
/// instances (200 KB at 300 apps) is written without a large-object allocation per request (each one went to the large
/// object heap, which only a full, blocking collection empties). Arrays past the pool's largest are allocated, as before.
/// </summary>
public sealed class PooledWriter(int initial = 16 * 1024) : IBufferWriter<byte>, IDisposable
{
    private byte[] _buffer = Buffers.Pool.Rent(initial);
    private int _written;

    public ReadOnlyMemory<byte> Written => _buffer.AsMemory(0, _written);

    /// <summary>Forgets what was written (the buffer stays).</summary>
    public void Clear() => _written = 0;

    public void Advance(int count) => _written += count;

    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsMemory(_written);
    }

    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Ensure(sizeHint);
        return _buffer.AsSpan(_written);
    }

    private void Ensure(int sizeHint)
    {
        sizeHint = Math.Max(sizeHint, 1);
        if (_buffer.Length - _written >= sizeHint) return;
        var bigger = Buffers.Pool.Rent(Math.Max(_buffer.Length * 2, _written + sizeHint));
        _buffer.AsSpan(0, _written).CopyTo(bigger);
        Buffers.Pool.Return(_buffer);
        _buffer = bigger;
    }

    public void Dispose()
    {
        if (_buffer.Length > 0) Buffers.Pool.Return(_buffer);
        _buffer = [];
        _written = 0;
    }
}
