namespace NodeKeeper.Daemon.Logs;

/// <summary>An append-only log file that rotates by rename (path -> path.1 -> … -> path.keep) at a line boundary before it would grow past its size limit.</summary>
/// <remarks>Not thread-safe: used by the single writer of a <see cref="LogFile"/>. Every method may throw the OS's I/O errors; the caller decides what to drop.</remarks>
internal sealed class RotatingFileStream : IDisposable
{
    // Batches the small writes of chatty apps into few syscalls; the owner flushes when its queue runs dry.
    private const int BufferSize = 64 * 1024;

    private readonly string _path;
    private readonly long _maxSize;
    private readonly int _keep;
    private FileStream? _stream;
    private long _length;

    public RotatingFileStream(string path, long maxSize, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        _path = path;
        _maxSize = maxSize;
        _keep = keep;
    }

    public bool IsOpen => _stream is not null;

    /// <summary>Appends whole lines, opening the file if needed and rotating as often as the data requires.</summary>
    public void Write(ReadOnlySpan<byte> lines)
    {
        var stream = _stream ?? Open();
        while (!lines.IsEmpty)
        {
            int fitting = FittingLength(lines);
            if (fitting == 0)
            {
                stream = Rotate();
                continue;
            }
            stream.Write(lines[..fitting]);
            _length += fitting;
            lines = lines[fitting..];
        }
    }

    public void Flush() => _stream?.Flush();

    /// <summary>Closes the file; throws if its buffered bytes cannot be written (the handle is closed anyway).</summary>
    public void Dispose()
    {
        var stream = _stream;
        _stream = null;
        stream?.Dispose();
    }

    /// <summary>Closes the file after a failure, discarding what could not be written.</summary>
    public void Abandon()
    {
        try
        {
            Dispose();
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    // How many leading bytes go into the current file; 0 means rotate first. Cuts only after a '\n'
    // so that every file holds whole lines; a single line larger than the limit gets a file of its own.
    private int FittingLength(ReadOnlySpan<byte> lines)
    {
        if (_maxSize <= 0)
            return lines.Length;
        long room = _maxSize - _length;
        if (lines.Length <= room)
            return lines.Length;
        if (room > 0)
        {
            int lastNewline = lines[..(int)room].LastIndexOf((byte)'\n');
            if (lastNewline >= 0)
                return lastNewline + 1;
        }
        if (_length > 0)
            return 0;
        int firstNewline = lines.IndexOf((byte)'\n');
        return firstNewline >= 0 ? firstNewline + 1 : lines.Length;
    }

    private FileStream Open()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(_path))!);
        // A previous daemon killed mid-write, or a disk that filled up mid-line, leaves a partial
        // line; without a newline the next line would be glued to it.
        bool endsMidLine = EndsMidLine(_path);
        var stream = new FileStream(_path, new FileStreamOptions
        {
            Mode = FileMode.Append,
            Access = FileAccess.Write,
            // Readers (nk logs --follow) keep reading while we write, and rotation renames under them.
            Share = FileShare.Read | FileShare.Delete,
            BufferSize = BufferSize,
        });
        _stream = stream;
        _length = stream.Length;
        if (endsMidLine)
        {
            stream.WriteByte((byte)'\n');
            _length++;
        }
        return stream;
    }

    private FileStream Rotate()
    {
        // Flush into the old file before it is renamed away, so nothing lands in the wrong file.
        Dispose();
        if (_keep == 0)
        {
            File.Delete(_path);
        }
        else
        {
            File.Delete(RotatedPath(_keep));
            for (int i = _keep - 1; i >= 1; i--)
            {
                string older = RotatedPath(i);
                if (File.Exists(older))
                    File.Move(older, RotatedPath(i + 1), overwrite: true);
            }
            // Someone may have deleted the live file; then there is nothing to keep.
            if (File.Exists(_path))
                File.Move(_path, RotatedPath(1), overwrite: true);
        }
        return Open();
    }

    private string RotatedPath(int index) => $"{_path}.{index}";

    private static bool EndsMidLine(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long length = RandomAccess.GetLength(handle);
            if (length == 0)
                return false;
            Span<byte> last = stackalloc byte[1];
            return RandomAccess.Read(handle, last, length - 1) == 1 && last[0] != (byte)'\n';
        }
        catch (FileNotFoundException)
        {
            return false;
        }
    }
}
