namespace NodeKeeper.Daemon.Supervision;

/// <summary>The last bytes an instance wrote to stderr (at most <paramref name="capacity"/>), kept to explain its exit.
/// It holds only what was written: an instance that writes nothing to stderr costs no buffer.</summary>
public sealed class StderrTail(int capacity = 64 * 1024)
{
    private byte[] _ring = [];
    private long _written;
    private readonly Lock _lock = new();

    public void Append(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
            if (data.IsEmpty) return;
            // Below the capacity the bytes have never wrapped: grow, keeping them in order.
            if (_ring.Length < capacity && _written + data.Length > _ring.Length)
            {
                var bigger = new byte[(int)Math.Min(capacity, Math.Max(_ring.Length * 2L, Math.Max(4096, _written + data.Length)))];
                _ring.AsSpan(0, (int)_written).CopyTo(bigger);
                _ring = bigger;
            }
            if (data.Length >= _ring.Length) data = data[^_ring.Length..];
            var pos = (int)(_written % _ring.Length);
            var first = Math.Min(data.Length, _ring.Length - pos);
            data[..first].CopyTo(_ring.AsSpan(pos));
            data[first..].CopyTo(_ring);
            _written += data.Length;
        }
    }

    /// <summary>The kept text, oldest first.</summary>
    public string Text()
    {
        lock (_lock)
        {
            if (_written <= _ring.Length) return System.Text.Encoding.UTF8.GetString(_ring, 0, (int)_written);
            var pos = (int)(_written % _ring.Length);
            var buf = new byte[_ring.Length];
            _ring.AsSpan(pos).CopyTo(buf);
            _ring.AsSpan(0, pos).CopyTo(buf.AsSpan(_ring.Length - pos));
            return System.Text.Encoding.UTF8.GetString(buf);
        }
    }

    public void Clear()
    {
        lock (_lock)
        {
            _written = 0;
            _ring = [];
        }
    }
}
