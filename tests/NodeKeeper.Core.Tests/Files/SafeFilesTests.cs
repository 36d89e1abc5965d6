using System.Diagnostics;
using System.Text;
using NodeKeeper.Core.Files;

namespace NodeKeeper.Core.Tests.Files;

/// <summary>SafeFiles on real folders: links are followed only where nobody else can make them.</summary>
public sealed class SafeFilesTests : IDisposable
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode Open = Private | UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;
    private readonly string _root = Directory.CreateDirectory(Path.Combine("/tmp", "nk-safefiles", Guid.NewGuid().ToString("N")[..12])).FullName;

    public SafeFilesTests() => File.SetUnixFileMode(_root, Private);

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string Folder(string name, UnixFileMode mode)
    {
        var path = Directory.CreateDirectory(Path.Combine(_root, name)).FullName;
        File.SetUnixFileMode(path, mode);
        return path;
    }

    private static void Append(string path, string text)
    {
        using var stream = new FileStream(SafeFiles.OpenAppend(path), FileAccess.Write, bufferSize: 0);
        stream.Write(Encoding.UTF8.GetBytes(text));
    }

    [Fact]
    public void In_a_folder_of_its_own_it_creates_missing_folders_and_follows_links_absolute_relative_and_through_dotdot()
    {
        var logs = Folder("logs", Private);
        Append(Path.Combine(_root, "new", "deeper", "a.log"), "one\n");
        File.ReadAllText(Path.Combine(_root, "new", "deeper", "a.log")).Should().Be("one\n");

        File.CreateSymbolicLink(Path.Combine(logs, "abs.log"), Path.Combine(_root, "target.log"));
        File.CreateSymbolicLink(Path.Combine(logs, "rel.log"), "../target.log");
        Directory.CreateSymbolicLink(Path.Combine(_root, "linked-logs"), logs);
        Append(Path.Combine(logs, "abs.log"), "a\n");
        Append(Path.Combine(logs, "rel.log"), "b\n");
        Append(Path.Combine(_root, "linked-logs", "rel.log"), "c\n");
        File.ReadAllText(Path.Combine(_root, "target.log")).Should().Be("a\nb\nc\n");
        SafeFiles.ReadAllText(Path.Combine(_root, "linked-logs", "abs.log"), 100).Should().Be("a\nb\nc\n");
    }

    [Fact]
    public void System_files_and_the_links_the_kernel_makes_are_opened_as_before()
    {
        Append("/dev/null", "nothing\n");
        // /dev/stdout -> /proc/self/fd/1 -> whatever fd 1 is (a pipe, a tty, /dev/null under the test runner).
        using (SafeFiles.OpenAppend("/dev/stdout")) { }
        using (SafeFiles.OpenAppend("/proc/self/fd/2")) { }
    }

    [Fact]
    public void In_a_folder_others_can_write_a_link_is_refused_wherever_it_points()
    {
        var shared = Folder("shared", Open);
        var target = Path.Combine(_root, "mine.log");
        File.WriteAllText(target, "");
        File.CreateSymbolicLink(Path.Combine(shared, "app.log"), target);
        var append = () => SafeFiles.OpenAppend(Path.Combine(shared, "app.log"));
        append.Should().Throw<IOException>().WithMessage(
            $"{shared}/app.log is a link in {shared}, a folder another user can change (owner uid 0, mode 0777): refused");
        var read = () => SafeFiles.ReadAllText(Path.Combine(shared, "app.log"), 100);
        read.Should().Throw<IOException>().WithMessage($"{shared}/app.log is a link in {shared}*");

        // A dangling link is not created through either; nor is a folder on the way a link.
        File.CreateSymbolicLink(Path.Combine(shared, "dangling.log"), Path.Combine(_root, "never.log"));
        ((Action)(() => SafeFiles.OpenAppend(Path.Combine(shared, "dangling.log")))).Should().Throw<IOException>();
        File.Exists(Path.Combine(_root, "never.log")).Should().BeFalse();
        Directory.CreateSymbolicLink(Path.Combine(shared, "sub"), _root);
        ((Action)(() => SafeFiles.OpenAppend(Path.Combine(shared, "sub", "x.log")))).Should().Throw<IOException>()
            .WithMessage($"{shared}/sub is a link in {shared}*");
        File.Exists(Path.Combine(_root, "x.log")).Should().BeFalse();
        File.ReadAllText(target).Should().BeEmpty();
    }

    [Fact]
    public void In_a_folder_others_can_write_only_a_regular_file_with_one_name_and_for_writing_our_own_is_used()
    {
        var shared = Folder("shared", Open);
        Append(Path.Combine(shared, "fresh.log"), "made by us\n");
        SafeFiles.ReadAllText(Path.Combine(shared, "fresh.log"), 100).Should().Be("made by us\n");

        var secret = Path.Combine(_root, "secret");
        File.WriteAllText(secret, "root's");
        Run("ln", secret, Path.Combine(shared, "hard.log"));
        ((Action)(() => SafeFiles.OpenAppend(Path.Combine(shared, "hard.log")))).Should().Throw<IOException>()
            .WithMessage($"{shared}/hard.log has 2 names (hard links) in {shared}*");
        ((Action)(() => SafeFiles.ReadAllText(Path.Combine(shared, "hard.log"), 100))).Should().Throw<IOException>();
        File.ReadAllText(secret).Should().Be("root's");

        Run("mkfifo", Path.Combine(shared, "fifo.log"));
        ((Action)(() => SafeFiles.ReadAllText(Path.Combine(shared, "fifo.log"), 100))).Should().Throw<IOException>()
            .WithMessage($"{shared}/fifo.log is not a regular file in {shared}*", "a FIFO there is refused, not waited on");

        if (Environment.UserName != "root") return; // a file of another user needs root to make
        var theirs = Path.Combine(shared, "theirs.log");
        File.WriteAllText(theirs, "");
        Run("chown", "65534:65534", theirs);
        ((Action)(() => SafeFiles.OpenAppend(theirs))).Should().Throw<IOException>()
            .WithMessage($"{theirs} belongs to uid 65534, not to uid 0 who writes it in {shared}*");
        SafeFiles.ReadAllText(theirs, 100).Should().BeEmpty("reading a file its owner could give us anyway is fine");
    }

    [Fact]
    public void Errors_name_the_path_and_what_is_wrong()
    {
        var missing = Path.Combine(_root, "nope", "x.env");
        ((Action)(() => SafeFiles.ReadAllText(missing, 100))).Should().Throw<IOException>().WithMessage($"{_root}/nope does not exist");
        File.WriteAllText(Path.Combine(_root, "file"), "");
        ((Action)(() => SafeFiles.OpenAppend(Path.Combine(_root, "file", "x.log")))).Should().Throw<IOException>()
            .WithMessage($"{_root}/file is a file, not a folder");
        Run("mkfifo", Path.Combine(_root, "fifo.env"));
        ((Action)(() => SafeFiles.ReadAllText(Path.Combine(_root, "fifo.env"), 100))).Should().Throw<IOException>()
            .WithMessage($"{_root}/fifo.env is not a regular file (a pipe, socket or device)", "read, a FIFO is refused even where it is trusted: nobody writes it");
        File.WriteAllText(Path.Combine(_root, "big"), new string('x', 101));
        ((Action)(() => SafeFiles.ReadAllText(Path.Combine(_root, "big"), 100))).Should().Throw<IOException>()
            .WithMessage($"{_root}/big is larger than 100 bytes");
    }

    private static void Run(string command, params string[] args)
    {
        using var p = Process.Start(command, args)!;
        p.WaitForExit();
        p.ExitCode.Should().Be(0, $"{command} {string.Join(' ', args)}");
    }
}
