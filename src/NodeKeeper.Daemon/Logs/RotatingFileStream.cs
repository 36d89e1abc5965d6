using Microsoft.Win32.SafeHandles;
using NodeKeeper.Core.Files;

namespace NodeKeeper.Daemon.Logs;

/// <summary>An append-only log file that rotates by rename (path -> path.1 -> … -> path.keep) at a line boundary before it would grow past its size limit.</summary>
/// <remarks>
/// Not thread-safe: used by the single writer of a <see cref="LogFile"/>. It keeps its own buffer (its FileStream has
/// none) so that when a write fails (disk full, file system gone read-only) it knows exactly which lines reached the
/// file: those are kept, every other line it was given is reported lost by <see cref="LogWriteException"/>.
/// </remarks>
internal sealed class RotatingFileStream : IDisposable
{
    // Batches the small writes of chatty apps into few syscalls; the owner flushes when its queue runs dry.
    private const int BufferSize = 64 * 1024;

    private readonly string _path;
    private readonly long _maxSize;
    private readonly int _keep;
    private byte[]? _buffer;
    private int _buffered;
    // Unbuffered: the buffer above is the only one, so a failed write loses nothing this class does not know of.
    private FileStream? _stream;
    // Where the next write lands: the file's length as far as this writer knows.
    private long _offset;
    // What a failed write lost, until the failure is reported.
    private long _lostBytes;
    private long _lostLines;
    private long _writtenBytes;

    public RotatingFileStream(string path, long maxSize, int keep)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(keep);
        _path = path;
        _maxSize = maxSize;
        _keep = keep;
    }

    public bool IsOpen => _stream is not null;

    /// <summary>Bytes of lines that reached the file (written to the OS); may be read from any thread.</summary>
    public long WrittenBytes => Interlocked.Read(ref _writtenBytes);

    // The length the file has once the buffer is written.
    private long Length => _offset + _buffered;

    /// <summary>Appends whole lines, opening the file if needed and rotating as often as the data requires.</summary>
    /// <exception cref="LogWriteException">The file could not be opened, rotated or written: it is closed, and what was
    /// buffered or given but did not reach it is counted in the exception.</exception>
    public void Write(ReadOnlySpan<byte> lines)
    {
        var rest = lines;
        try
        {
            if (_stream is null)
                Open();
            _buffer ??= Buffers.Pool.Rent(BufferSize);
            while (!rest.IsEmpty)
            {
                int fitting = FittingLength(rest);
                if (fitting == 0)
                {
                    Rotate();
                    continue;
                }
                while (fitting > 0)
                {
                    if (_buffered == BufferSize)
                        WriteBuffer();
                    int n = Math.Min(fitting, BufferSize - _buffered);
                    rest[..n].CopyTo(_buffer.AsSpan(_buffered));
                    _buffered += n;
                    rest = rest[n..];
                    fitting -= n;
                }
            }
        }
        catch (Exception error)
        {
            throw Failed(error, rest);
        }
    }

    /// <summary>Writes what is buffered to the OS, and gives the buffer back to the pool: a log that is not being written
    /// holds none (a hundred quiet apps held 12 MiB of them).</summary>
    /// <exception cref="LogWriteException">As <see cref="Write"/>.</exception>
    public void Flush()
    {
        try
        {
            WriteBuffer();
            if (_buffer is not null)
            {
                Buffers.Pool.Return(_buffer);
                _buffer = null;
            }
        }
        catch (Exception error)
        {
            throw Failed(error, default);
        }
    }

    /// <summary>Writes what is buffered, then empties the file (opened, or made, first): `nk flush`. The next line lands at
    /// its start; the rotated files stay.</summary>
    /// <exception cref="LogWriteException">As <see cref="Write"/>.</exception>
    public void Truncate()
    {
        try
        {
            WriteBuffer();
            if (_stream is null) Open();
            _stream!.SetLength(0);
            _offset = 0;
        }
        catch (Exception error)
        {
            throw Failed(error, default);
        }
    }

    /// <summary>Writes what is buffered and closes the file.</summary>
    /// <exception cref="LogWriteException">As <see cref="Write"/> (the file is closed anyway).</exception>
    public void Dispose()
    {
        Flush();
        Close();
    }

    /// <summary>Closes the file after a failure, discarding what could not be written.</summary>
    public void Abandon()
    {
        try
        {
            Dispose();
        }
        catch (LogWriteException)
        {
        }
    }

    private void Close()
    {
        var stream = _stream;
        _stream = null;
        _buffered = 0;
        try
        {
            stream?.Dispose();
        }
        catch (IOException)
        {
            // Nothing is buffered in it: closing cannot lose a line.
        }
    }

    // Closes the file and sums up what is lost: what a failed write left unwritten and the lines not buffered yet.
    private LogWriteException Failed(Exception error, ReadOnlySpan<byte> rest)
    {
        var lostBytes = _lostBytes + _buffered + rest.Length;
        var lostLines = _lostLines + _buffer.AsSpan(0, _buffered).Count((byte)'\n') + rest.Count((byte)'\n');
        _lostBytes = 0;
        _lostLines = 0;
        Close();
        return new LogWriteException(error, lostBytes, lostLines);
    }

    private void WriteBuffer()
    {
        if (_buffered == 0)
            return;
        var data = _buffer.AsSpan(0, _buffered);
        var stream = _stream!;
        try
        {
            stream.Write(data);
        }
        catch (Exception)
        {
            // Part of the data may be in the file (a disk fills up in the middle of a write): its length says how much.
            // Of a pipe nobody can tell: all of it counts as lost.
            int landed = 0;
            try
            {
                if (stream.CanSeek)
                    landed = (int)Math.Clamp(RandomAccess.GetLength(stream.SafeFileHandle) - _offset, 0, data.Length);
            }
            catch (IOException)
            {
            }
            var lost = data[landed..];
            // A line cut just before its '\n' is whole once the next open ends it (see Open): it is kept, not lost.
            if (landed > 0 && !lost.IsEmpty && data[landed - 1] != (byte)'\n' && lost[0] == (byte)'\n')
                lost = lost[1..];
            _lostBytes += lost.Length;
            _lostLines += lost.Count((byte)'\n');
            Interlocked.Add(ref _writtenBytes, data.Length - lost.Length);
            _offset += landed;
            _buffered = 0;
            throw;
        }
        _offset += data.Length;
        Interlocked.Add(ref _writtenBytes, data.Length);
        _buffered = 0;
    }

    // How many leading bytes go into the current file; 0 means rotate first. Cuts only after a '\n'
    // so that every file holds whole lines; a single line larger than the limit gets a file of its own.
    // A pipe (log.out = "/dev/stdout" under nk run, a FIFO) is never rotated: renaming it would break whoever reads it.
    private int FittingLength(ReadOnlySpan<byte> lines)
    {
        if (_maxSize <= 0 || _stream is { CanSeek: false })
            return lines.Length;
        long room = _maxSize - Length;
        if (lines.Length <= room)
            return lines.Length;
        if (room > 0)
        {
            int lastNewline = lines[..(int)room].LastIndexOf((byte)'\n');
            if (lastNewline >= 0)
                return lastNewline + 1;
        }
        if (Length > 0)
            return Resynced() ? FittingLength(lines) : 0;
        int firstNewline = lines.IndexOf((byte)'\n');
        return firstNewline >= 0 ? firstNewline + 1 : lines.Length;
    }

    // Before rotating, looks at the file's real length: a file that did not grow as it was written is no regular file
    // (log.out = "/dev/null" must never be renamed) or was truncated by someone else (logrotate's copytruncate); then
    // it is opened again, to go on at its real end. True when that happened.
    private bool Resynced()
    {
        WriteBuffer();
        if (RandomAccess.GetLength(_stream!.SafeFileHandle) >= _offset)
            return false;
        Close();
        Open();
        return true;
    }

    // Opened through SafeFiles: a root daemon writing a log in a folder that an app's user can change must never be led
    // by a link, or into a file that user made, to append to somebody else's file (issue 13, item 1).
    private void Open()
    {
        var stream = new FileStream(SafeFiles.OpenAppend(_path), FileAccess.Write, bufferSize: 0);
        _stream = stream;
        _buffered = 0;
        _offset = stream.CanSeek ? stream.Seek(0, SeekOrigin.End) : 0;
        // A previous daemon killed mid-write, or a disk that filled up mid-line, leaves a partial
        // line; without a newline the next line would be glued to it.
        if (stream.CanSeek && EndsMidLine(stream.SafeFileHandle, _offset))
        {
            stream.Write("\n"u8);
            _offset++;
        }
    }

    private void Rotate()
    {
        // Write into the old file before it is renamed away, so nothing lands in the wrong file.
        WriteBuffer();
        Close();
        // Renamed within the folder found the safe way: a link planted under one of these names is moved or removed
        // itself, never followed.
        var (folder, name) = SafeFiles.OpenParent(_path, createFolders: false);
        using (folder)
        {
            if (_keep == 0)
            {
                folder.Delete(name);
            }
            else
            {
                folder.Delete($"{name}.{_keep}");
                for (int i = _keep - 1; i >= 1; i--)
                    folder.Rename($"{name}.{i}", $"{name}.{i + 1}");
                // Someone may have deleted the live file; then there is nothing to keep.
                folder.Rename(name, $"{name}.1");
            }
        }
        Open();
    }

    // Only asked of a file that can seek. Read through a second descriptor of the same open file (ours is write-only).
    private static bool EndsMidLine(SafeFileHandle file, long length)
    {
        if (length == 0)
            return false;
        try
        {
            using var handle = File.OpenHandle($"/proc/self/fd/{file.DangerousGetHandle()}", FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            Span<byte> last = stackalloc byte[1];
            return RandomAccess.Read(handle, last, length - 1) == 1 && last[0] != (byte)'\n';
        }
        catch (IOException)
        {
            return false;
        }
    }
}

/// <summary>A log file could not be opened, rotated or written; what did not reach it is counted here.</summary>
internal sealed class LogWriteException(Exception inner, long lostBytes, long lostLines) : IOException(inner.Message, inner)
{
    public long LostBytes { get; } = lostBytes;
    public long LostLines { get; } = lostLines;
}
