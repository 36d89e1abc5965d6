namespace NodeKeeper.Core.Supervision;

/// <summary>
/// Cuts the bytes of an app's IPC channel into lines at a bounded cost. NodeKeeper's own messages are short; a line
/// longer than the limit is the app's own (the daemon has no use for it), so it is skipped as it streams past, never
/// gathered. A line that arrives whole in one read is handed out where it lies, without a copy.
/// </summary>
public sealed class IpcLines(int maxLine = IpcLines.MaxLine)
{
    /// <summary>The longest line kept: the preload's report is about 200 bytes.</summary>
    public const int MaxLine = 4096;
    // Only while a line is unfinished: a channel between messages holds nothing.
    private byte[]? _pending;
    private int _length;
    private bool _skipping;

    /// <summary>The start of a line not finished yet (kept for the next chunk).</summary>
    public ReadOnlySpan<byte> Pending => _pending.AsSpan(0, _length);

    private byte[] Room => _pending ??= new byte[maxLine];

    /// <summary>True while a line too long to keep streams past.</summary>
    public bool Skipping => _skipping;

    /// <summary>Goes on from where another reader of the same channel stopped (<see cref="Pending"/>, <see cref="Skipping"/>).</summary>
    public void Resume(ReadOnlySpan<byte> pending, bool skipping)
    {
        _length = Math.Min(pending.Length, maxLine);
        // Every launch resumes (from nothing, mostly): the room is taken only for a line actually carried over.
        if (_length > 0) pending[.._length].CopyTo(Room);
        _skipping = skipping;
    }

    /// <summary>
    /// The next whole line of the chunk, which it consumes; false once the chunk is used up (an unfinished line at
    /// its end is kept for the next chunk). The line is valid until the next call.
    /// </summary>
    public bool Next(ref ReadOnlySpan<byte> chunk, out ReadOnlySpan<byte> line)
    {
        while (true)
        {
            var nl = chunk.IndexOf((byte)'\n');
            var part = nl < 0 ? chunk : chunk[..nl];
            chunk = nl < 0 ? [] : chunk[(nl + 1)..];
            line = [];
            if (_skipping || _length + part.Length > maxLine)
            {
                _length = 0;
                _pending = null;
                _skipping = nl < 0;
                if (nl < 0) return false;
                continue;
            }
            if (nl >= 0 && _length == 0)
            {
                line = part;
                return true;
            }
            part.CopyTo(Room.AsSpan(_length));
            _length += part.Length;
            if (nl < 0) return false;
            line = _pending.AsSpan(0, _length);
            // The line stays valid until the next call: the array is let go, not reused.
            _length = 0;
            _pending = null;
            return true;
        }
    }
}
