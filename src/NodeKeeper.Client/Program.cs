using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using NodeKeeper.Core.Rendering;
using NodeKeeper.Core.Protocol;

namespace NodeKeeper.Client;

/// <summary>
/// `nk`. Scripts and monitors poll `nk status --json` and `nk ping`; those answer here, in a binary small enough to
/// start in a few milliseconds (nk-full links the daemon, Hosting, Serilog, Spectre.Console and System.CommandLine, and
/// spends most of its start-up just initialising that image). Anything else — another command, an option this fast path
/// does not know, no daemon yet, a home or daemon not to be trusted, a refused request — is handed to nk-full by
/// exec(2), unchanged: nk-full is the one implementation of every command, and prints every error, so both paths
/// behave the same.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (FastPath.Parse(args) is { } request)
        {
            var code = FastPath.TryAnswer(request);
            if (code is not null) return code.Value;
        }
        return NkFull.Exec(args);
    }
}

/// <summary>The command lines answered without nk-full, and how.</summary>
public static class FastPath
{
    // From a constant the build writes (OwnBuild.g.cs), not from the assembly's attribute: reading an attribute starts
    // the reflection type loader, about a tenth of this binary's start-up CPU.
    private static readonly string OwnVersion = BuildVersion.Short(OwnBuild.InformationalVersion);

    /// <summary>What a fast command asks: the daemon request, and how to print its answer.</summary>
    public sealed record Ask(string Cmd, string[] Names, bool Json);

    /// <summary>
    /// `status|ls [NAME…] [--json]` and `ping`, nothing else: names must be plain words (an option, `--`, a response
    /// file `@…` or help goes to nk-full, which knows what to do with them).
    /// </summary>
    public static Ask? Parse(string[] args)
    {
        if (args.Length == 1 && args[0] == "ping") return new Ask(Commands.Ping, [], false);
        if (args.Length == 0 || args[0] is not ("status" or "ls")) return null;
        var names = new List<string>();
        var json = false;
        foreach (var a in args.AsSpan(1))
        {
            if (a == "--json" && !json) json = true;
            else if (a.Length == 0 || a[0] is '-' or '@') return null;
            else names.Add(a);
        }
        return new Ask(Commands.Status, [.. names], json);
    }

    /// <summary>The exit code once answered, or null when nk-full should handle it (no daemon, a home or daemon not to be trusted, an error answer…).</summary>
    public static int? TryAnswer(Ask ask)
    {
        var home = Home.Current;
        var path = NkHome.Socket(home);
        // A home or a daemon that is not to be trusted gets nothing: nk-full says why (nk-full checks as this does).
        if (HomeGuard.Refusal(home) is not null) return null;
        FastReply.Answer? answer;
        var fd = Unix.Connect(path);
        if (fd < 0) return null;
        try
        {
            if (Uids.Peer(fd) is not { } peer || Uids.UntrustedServer(peer, path) is not null) return null;
            if (!Unix.WriteAll(fd, FastReply.Request(1, ask.Cmd, ask.Cmd == Commands.Status ? ask.Names : null))) return null;
            if (ReadLine(fd) is not { } line) return null;
            answer = FastReply.Parse(line);
        }
        finally { Unix.Close(fd); }
        // A daemon of another version: nk-full answers, and says so.
        if (answer is not { Ok: true } || (answer.Version is { } v && v != OwnVersion)) return null;

        byte[] text;
        if (ask.Cmd == Commands.Ping) text = Encoding.UTF8.GetBytes($"pong: daemon pid {answer.Pid}, version {answer.Version}, home {home}\n");
        else if (ask.Json)
        {
            // Said as nk-full says it: on stderr beside JSON (which stays the rows alone).
            if (answer.DaemonNotice is { } notice) Unix.WriteAll(2, Encoding.UTF8.GetBytes(Render.DaemonNotice(notice)));
            // The rows as the daemon wrote them (the same bytes nk-full's serializer writes for them), from where they
            // were read: at 300 apps they are 200 KB, and each copy costs page faults.
            if (answer.Instances is not { } rows) Unix.WriteAll(1, "[]\n"u8);
            else if (Unix.WriteAll(1, rows.Span)) Unix.WriteAll(1, "\n"u8);
            return 0;
        }
        else
        {
            List<InstanceInfo> rows;
            try { rows = answer.Instances is { } raw ? JsonSerializer.Deserialize(raw.Span, StatusJson.Default.ListInstanceInfo) ?? [] : []; }
            catch (JsonException) { return null; }
            var table = Render.StatusTable(rows, DateTimeOffset.UtcNow);
            // Said as nk-full says it: below the table.
            if (answer.DaemonNotice is { } notice) table += Render.DaemonNotice(notice);
            text = Encoding.UTF8.GetBytes(table);
        }
        // Written to fd 1 as it is: System.Console would first set up terminal and signal handling (a thread of its own).
        Unix.WriteAll(1, text);
        return 0;
    }

    /// <summary>The answer line (the daemon writes one per request), in the buffer it was read into; null when the
    /// connection ends first or it passes 64 MiB.</summary>
    private static ReadOnlyMemory<byte>? ReadLine(int fd)
    {
        // Not zeroed first: each byte is read into before it is looked at, and a page never read into is never touched
        // (so a megabyte costs no more than the answer needs: about 700 bytes an instance).
        var buffer = GC.AllocateUninitializedArray<byte>(1024 * 1024);
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= 64 * 1024 * 1024) return null;
                var larger = GC.AllocateUninitializedArray<byte>(buffer.Length * 2);
                buffer.AsSpan(0, length).CopyTo(larger);
                buffer = larger;
            }
            var n = Unix.Read(fd, buffer.AsSpan(length));
            if (n <= 0) return null;
            var newline = Array.IndexOf(buffer, (byte)'\n', length, n);
            length += n;
            if (newline >= 0) return buffer.AsMemory(0, newline);
        }
    }
}

/// <summary>
/// The control socket through libc: System.Net.Sockets starts its epoll thread at the first socket, a thread `nk status`
/// never uses. On a machine busy stopping or starting hundreds of apps every thread and every step waits its turn for
/// a core; measured with 20 spinning processes on 2 cores, the whole of `nk status` took 72 ms where a C client of the
/// same request took 36.
/// </summary>
public static unsafe partial class Unix
{
    private const int AF_UNIX = 1, SOCK_STREAM = 1, SOCK_CLOEXEC = 0x80000, EINTR = 4;

    /// <summary>A connected stream socket to the path's listener, or -1.</summary>
    public static int Connect(string path)
    {
        // struct sockaddr_un: sa_family_t (2 bytes), then up to 108 bytes of path, NUL-terminated.
        var bytes = Encoding.UTF8.GetBytes(path);
        if (bytes.Length > 107) return -1;
        var addr = stackalloc byte[110];
        new Span<byte>(addr, 110).Clear();
        *(ushort*)addr = AF_UNIX;
        bytes.CopyTo(new Span<byte>(addr + 2, 108));
        var fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        int r;
        do r = connect(fd, addr, 2 + bytes.Length + 1); while (r < 0 && Marshal.GetLastPInvokeError() == EINTR);
        if (r == 0) return fd;
        close(fd);
        return -1;
    }

    /// <summary>Writes every byte; false on an error.</summary>
    public static bool WriteAll(int fd, ReadOnlySpan<byte> data)
    {
        fixed (byte* p = data)
        {
            var done = 0;
            while (done < data.Length)
            {
                var n = write(fd, p + done, data.Length - done);
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
                if (n <= 0) return false;
                done += (int)n;
            }
        }
        return true;
    }

    /// <summary>Bytes read into the span (0 at the end, -1 on an error).</summary>
    public static int Read(int fd, Span<byte> into)
    {
        fixed (byte* p = into)
        {
            while (true)
            {
                var n = read(fd, p, into.Length);
                if (n < 0 && Marshal.GetLastPInvokeError() == EINTR) continue;
                return (int)n;
            }
        }
    }

    public static void Close(int fd) => close(fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int connect(int fd, byte* addr, int length);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint write(int fd, byte* buffer, nint count);

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc")]
    private static partial int close(int fd);
}

/// <summary>Becomes nk-full: exec(2) of the nk-full beside this binary, with the same arguments and environment.</summary>
public static partial class NkFull
{
    public static int Exec(string[] args)
    {
        var dir = AppContext.BaseDirectory;
        var self = Environment.ProcessPath ?? "";
        string[] argv;
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            argv = [self, Path.Combine(dir, "nk-full.dll"), .. args]; // started as `dotnet nk.dll`
        else
            argv = [Path.Combine(dir, "nk-full"), .. args];
        var native = new IntPtr[argv.Length + 1]; // NULL-terminated; never freed: either exec replaces us or we exit
        for (var i = 0; i < argv.Length; i++) native[i] = Marshal.StringToCoTaskMemUTF8(argv[i]);
        execv(native[0], native);
        var error = Marshal.GetLastPInvokeErrorMessage();
        Console.Error.WriteLine($"nk: cannot run {argv[0]}: {error} (nk-full must sit beside nk)");
        return 127;
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int execv(IntPtr path, IntPtr[] argv);
}
