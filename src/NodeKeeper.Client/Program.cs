using System.Net.Sockets;
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
    private static readonly string OwnVersion = BuildVersion.Of(typeof(FastPath).Assembly);

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
        try
        {
            using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(path));
            if (Uids.UntrustedServer(socket, path) is not null) return null;
            socket.Send(FastReply.Request(1, ask.Cmd, ask.Cmd == Commands.Status ? ask.Names : null));
            var line = ReadLine(socket);
            if (line is null) return null;
            answer = FastReply.Parse(line);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return null;
        }
        // A daemon of another version: nk-full answers, and says so.
        if (answer is not { Ok: true } || (answer.Version is { } v && v != OwnVersion)) return null;

        byte[] text;
        if (ask.Cmd == Commands.Ping) text = Encoding.UTF8.GetBytes($"pong: daemon pid {answer.Pid}, version {answer.Version}, home {home}\n");
        else if (ask.Json)
        {
            // The rows as the daemon wrote them: the same bytes nk-full's serializer writes for them.
            text = answer.Instances is { } rows ? [.. rows.Span, (byte)'\n'] : "[]\n"u8.ToArray();
            // Said as nk-full says it: on stderr beside JSON (which stays the rows alone).
            if (answer.DaemonNotice is { } notice) Console.Error.Write(Render.DaemonNotice(notice));
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
        using var stdout = Console.OpenStandardOutput();
        stdout.Write(text);
        return 0;
    }

    /// <summary>The answer line (the daemon writes one per request); null when the connection ends first or it passes 64 MiB.</summary>
    private static byte[]? ReadLine(Socket socket)
    {
        // Not zeroed first: each byte is read into before it is looked at.
        var buffer = GC.AllocateUninitializedArray<byte>(64 * 1024);
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
            var n = socket.Receive(buffer, length, buffer.Length - length, SocketFlags.None);
            if (n == 0) return null;
            var newline = Array.IndexOf(buffer, (byte)'\n', length, n);
            length += n;
            if (newline >= 0) return buffer[..newline];
        }
    }
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
