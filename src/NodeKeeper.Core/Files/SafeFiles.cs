using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace NodeKeeper.Core.Files;

/// <summary>
/// Opens files named by a config (app logs, env files) so that nobody but root and this process's user can steer
/// where: a root daemon must never be made to append to /etc/cron.d/x, or read /root/secret for an app, through a
/// link that an app's user planted in a folder of its own.
/// </summary>
/// <remarks>
/// A folder is trusted when root or this process's user owns it and nobody else may write in it; only a trusted folder
/// can hold a link or a name that another user could have put there. The path is walked one folder at a time with
/// openat and O_NOFOLLOW, so what is checked is what is used:
/// <list type="bullet">
/// <item>a link in a trusted folder is followed (a system's own /dev/stdout, an admin's /var/log/app.log -> …), its
/// target walked the same way;</item>
/// <item>a link in any other folder is refused, wherever it points;</item>
/// <item>a file in a folder that is not trusted must be a regular file with one name (no hard link to somebody's
/// secret), and when it is written, one of this process's user (never one the app's user made).</item>
/// </list>
/// Every refusal is an <see cref="IOException"/> whose one-line message names the path and what is wrong.
/// </remarks>
public static partial class SafeFiles
{
    private const int O_RDONLY = 0, O_WRONLY = 1, O_CREAT = 0x40, O_APPEND = 0x400, O_NONBLOCK = 0x800, O_CLOEXEC = 0x80000, O_PATH = 0x200000;
    private const int ENOENT = 2, EEXIST = 17, ELOOP = 40;
    private const int AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
    private const int MaxLinks = 40;
    // O_DIRECTORY and O_NOFOLLOW differ between x86_64 and the generic (aarch64) ABI.
    private static readonly bool X64 = RuntimeInformation.ProcessArchitecture == Architecture.X64;
    private static readonly int O_DIRECTORY = X64 ? 0x10000 : 0x4000;
    private static readonly int O_NOFOLLOW = X64 ? 0x20000 : 0x8000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int openat(int dirfd, string path, int flags, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mkdirat(int dirfd, string path, int mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int renameat(int olddirfd, string oldpath, int newdirfd, string newpath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int unlinkat(int dirfd, string path, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial nint readlinkat(int dirfd, string path, byte* buf, nint size);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int statx(int dirfd, string path, int flags, uint mask, byte* buf);

    private static readonly uint Self = Protocol.Uids.Effective();

    /// <summary>What statx says of an open fd (the struct is the same on every architecture).</summary>
    internal readonly record struct Stat(uint Mode, uint Uid, uint Links)
    {
        public bool IsLink => (Mode & 0xF000) == 0xA000;
        public bool IsFolder => (Mode & 0xF000) == 0x4000;
        public bool IsRegular => (Mode & 0xF000) == 0x8000;
        // Owned by root or by us, and writable by nobody else (a sticky /tmp is writable by all: not trusted).
        public bool Trusted => (Uid == 0 || Uid == Self) && (Mode & 0x12 /*0022*/) == 0;
        public string Describe() => $"owner uid {Uid}, mode {Convert.ToString(Mode & 0xFFF, 8).PadLeft(4, '0')}";
    }

    private static unsafe Stat StatOf(SafeFileHandle fd)
    {
        var buf = stackalloc byte[256];
        if (statx((int)fd.DangerousGetHandle(), "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, 0x7FF /*STATX_BASIC_STATS*/, buf) != 0)
            throw Errno("stat", "");
        // struct statx: stx_nlink at 16, stx_uid at 20, stx_mode (16 bits) at 28.
        return new Stat(*(ushort*)(buf + 28), *(uint*)(buf + 20), *(uint*)(buf + 16));
    }

    /// <summary>A folder reached without following a link anybody else could have made; the handle serves the *at calls.</summary>
    public sealed class Folder : IDisposable
    {
        internal Folder(SafeFileHandle handle, string path, Stat stat)
        {
            Handle = handle;
            Path = path;
            Trusted = stat.Trusted;
            Owner = stat.Describe();
        }

        internal SafeFileHandle Handle { get; }
        internal int Fd => (int)Handle.DangerousGetHandle();
        /// <summary>The folder's path as walked (links resolved).</summary>
        public string Path { get; }
        /// <summary>Only root and this process's user can change what is in it.</summary>
        public bool Trusted { get; }
        internal string Owner { get; }

        /// <summary>Renames an entry of this folder (a link is renamed, never followed); false when it does not exist.</summary>
        public bool Rename(string from, string to)
        {
            if (renameat(Fd, from, Fd, to) == 0) return true;
            if (Marshal.GetLastPInvokeError() == ENOENT) return false;
            throw Errno("rename", System.IO.Path.Combine(Path, from));
        }

        /// <summary>Removes an entry of this folder (a link itself, never its target); false when it does not exist.</summary>
        public bool Delete(string name)
        {
            if (unlinkat(Fd, name, 0) == 0) return true;
            if (Marshal.GetLastPInvokeError() == ENOENT) return false;
            throw Errno("delete", System.IO.Path.Combine(Path, name));
        }

        public void Dispose() => Handle.Dispose();
    }

    /// <summary>Opens the folder holding <paramref name="path"/> and returns it with the file's name in it (links in
    /// trusted folders resolved, the last one included), creating missing folders (0755) when asked.</summary>
    public static (Folder Folder, string Name) OpenParent(string path, bool createFolders)
    {
        var full = Path.GetFullPath(path);
        var folder = Root();
        try
        {
            var pending = new Stack<string>(Components(full).Reverse());
            var links = 0;
            while (true)
            {
                var name = pending.Pop();
                var last = pending.Count == 0;
                var here = Path.Combine(folder.Path, name);
                if (name == "..")
                    here = Path.GetDirectoryName(folder.Path) ?? "/";
                var fd = openat(folder.Fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
                if (fd < 0 && Marshal.GetLastPInvokeError() == ENOENT)
                {
                    if (last) return (folder, name);
                    if (!createFolders) throw new IOException($"{here} does not exist");
                    if (mkdirat(folder.Fd, name, 0x1ED /*0755*/) != 0 && Marshal.GetLastPInvokeError() != EEXIST)
                        throw Errno("create folder", here);
                    fd = openat(folder.Fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0);
                }
                if (fd < 0) throw Errno("open", here);
                var entry = new SafeFileHandle(fd, ownsHandle: true);
                Stat stat;
                try { stat = StatOf(entry); }
                catch { entry.Dispose(); throw; }
                if (stat.IsFolder && !last)
                {
                    folder.Dispose();
                    folder = new Folder(entry, here, stat);
                    continue;
                }
                entry.Dispose();
                if (stat.IsFolder) throw new IOException($"{here} is a folder, not a file");
                if (stat.IsLink)
                {
                    if (!folder.Trusted) throw NotTrusted(here, "is a link", folder);
                    if (++links > MaxLinks) throw new IOException($"{full}: too many levels of links");
                    var target = ReadLink(folder, name, here);
                    // A link the kernel makes up (/proc/self/fd/1 -> pipe:[123]) names no path: only its folder opens it.
                    if (last && (target.Contains(":[") || target.StartsWith("anon_inode:", StringComparison.Ordinal)))
                        return (folder, name);
                    if (target.StartsWith('/'))
                    {
                        folder.Dispose();
                        folder = Root();
                    }
                    foreach (var part in Components(target).Reverse()) pending.Push(part);
                    continue;
                }
                if (last) return (folder, name);
                throw new IOException($"{here} is a file, not a folder");
            }
        }
        catch
        {
            folder.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Opens a file to append to it (a log), creating it (0666 less the umask) when it does not exist. In a folder that
    /// is not trusted it must be a regular file of this process's user with one name (a FIFO there is not waited on).
    /// </summary>
    public static SafeFileHandle OpenAppend(string path)
    {
        var (folder, name) = OpenParent(path, createFolders: true);
        using (folder)
            return OpenIn(folder, name, O_WRONLY | O_APPEND | O_CREAT, write: true, regularOnly: false);
    }

    /// <summary>Reads a whole file (an env file) of at most <paramref name="maxBytes"/>, as <see cref="OpenAppend"/>
    /// would find it. It must be a regular file wherever it is (a FIFO or /dev/stdin would block the reader for ever),
    /// and in a folder that is not trusted one with one name.</summary>
    public static string ReadAllText(string path, int maxBytes)
    {
        var (folder, name) = OpenParent(path, createFolders: false);
        using (folder)
        {
            using var handle = OpenIn(folder, name, O_RDONLY, write: false, regularOnly: true);
            using var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
            var buffer = new byte[maxBytes + 1];
            var total = 0;
            int n;
            while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0) total += n;
            if (total > maxBytes) throw new IOException($"{Path.Combine(folder.Path, name)} is larger than {maxBytes} bytes");
            return Encoding.UTF8.GetString(buffer, 0, total);
        }
    }

    private static SafeFileHandle OpenIn(Folder folder, string name, int flags, bool write, bool regularOnly)
    {
        var here = Path.Combine(folder.Path, name);
        // Never wait in open() on a FIFO where it would be refused anyway.
        var nonBlocking = !folder.Trusted || regularOnly ? O_NONBLOCK : 0;
        var fd = openat(folder.Fd, name, flags | O_NOFOLLOW | O_CLOEXEC | nonBlocking, 0x1B6 /*0666*/);
        if (fd < 0 && Marshal.GetLastPInvokeError() == ELOOP)
        {
            // Only a link the kernel makes up gets here (OpenParent resolved every other): /dev/stdout under nk run.
            if (!folder.Trusted) throw NotTrusted(here, "is a link", folder);
            fd = openat(folder.Fd, name, (flags & ~O_CREAT) | O_CLOEXEC | nonBlocking, 0);
        }
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == ENOENT) throw new IOException($"{here} does not exist");
            // The OS's reason alone: whoever reports it names the file already (the log warning, the env_file error).
            throw new IOException(Marshal.GetPInvokeErrorMessage(errno));
        }
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        if (folder.Trusted && !regularOnly) return handle;
        try
        {
            var stat = StatOf(handle);
            if (!stat.IsRegular && folder.Trusted)
                throw new IOException($"{here} is not a regular file (a pipe, socket or device)");
            if (!stat.IsRegular)
                throw NotTrusted(here, "is not a regular file", folder);
            if (folder.Trusted) return handle;
            if (stat.Links == 0)
                throw NotTrusted(here, "was removed as it was opened", folder);
            if (stat.Links != 1)
                throw NotTrusted(here, $"has {stat.Links} names (hard links)", folder);
            if (write && stat.Uid != Self)
                throw NotTrusted(here, $"belongs to uid {stat.Uid}, not to uid {Self} who writes it", folder);
            return handle;
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    private static Folder Root()
    {
        var fd = openat(-100 /*AT_FDCWD*/, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) throw Errno("open", "/");
        var handle = new SafeFileHandle(fd, ownsHandle: true);
        return new Folder(handle, "/", StatOf(handle));
    }

    private static IEnumerable<string> Components(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries).Where(p => p != ".");

    private static unsafe string ReadLink(Folder folder, string name, string display)
    {
        var buf = stackalloc byte[4096];
        var n = readlinkat(folder.Fd, name, buf, 4096);
        if (n < 0) throw Errno("read link", display);
        return Encoding.UTF8.GetString(buf, (int)n);
    }

    private static IOException NotTrusted(string path, string what, Folder folder) =>
        new($"{path} {what} in {folder.Path}, a folder another user can change ({folder.Owner}): refused");

    private static IOException Errno(string what, string path)
    {
        var errno = Marshal.GetLastPInvokeError();
        var reason = Marshal.GetPInvokeErrorMessage(errno);
        return new IOException(path.Length > 0 ? $"cannot {what} {path}: {reason}" : $"cannot {what}: {reason}");
    }
}
