namespace NodeKeeper.Daemon.Supervision;

/// <summary>The last bytes an instance wrote to stderr, kept to explain its exit.</summary>
public sealed class StderrTail(int capacity = 64 * 1024)
{
    private readonly byte[] _ring = new byte[capacity];
    private long _written;
    private readonly Lock _lock = new();

    public void Append(ReadOnlySpan<byte> data)
    {
        lock (_lock)
        {
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

    public void Clear() { lock (_lock) _written = 0; }
}
