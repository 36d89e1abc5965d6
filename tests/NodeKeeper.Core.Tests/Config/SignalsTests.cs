using NodeKeeper.Core.Config;

namespace NodeKeeper.Core.Tests.Config;

public class SignalsTests
{
    [Theory]
    [InlineData("SIGHUP", 1)]
    [InlineData("SIGINT", 2)]
    [InlineData("SIGQUIT", 3)]
    [InlineData("SIGABRT", 6)]
    [InlineData("SIGKILL", 9)]
    [InlineData("SIGUSR1", 10)]
    [InlineData("SIGUSR2", 12)]
    [InlineData("SIGALRM", 14)]
    [InlineData("SIGTERM", 15)]
    [InlineData("SIGCONT", 18)]
    [InlineData("SIGSTOP", 19)]
    [InlineData("SIGTSTP", 20)]
    [InlineData("SIGWINCH", 28)]
    [InlineData("TERM", 15)]
    [InlineData("usr2", 12)]
    public void Signal_names_have_their_linux_numbers(string name, int number)
    {
        Signals.Number(name).Should().Be(number);
    }

    [Theory]
    [InlineData("SIGFOO")]
    [InlineData("")]
    [InlineData("15")]
    public void Unknown_signal_has_no_number(string name)
    {
        Signals.Number(name).Should().BeNull();
        Signals.Normalize(name).Should().BeNull();
    }

    [Fact]
    public void Short_names_normalise_to_the_SIG_name()
    {
        Signals.Normalize("term").Should().Be("SIGTERM");
    }

    /// <summary>
    /// A death by signal N (exit status 128 + N) is named for the exit classifier, which tells a native crash
    /// (SIGSEGV, SIGBUS, SIGFPE, SIGILL) from a kill from outside by name: 11 was "SIG11", a kill from outside.
    /// </summary>
    [Theory]
    [InlineData(11, "SIGSEGV")]
    [InlineData(7, "SIGBUS")]
    [InlineData(8, "SIGFPE")]
    [InlineData(4, "SIGILL")]
    [InlineData(13, "SIGPIPE")]
    [InlineData(15, "SIGTERM")]
    [InlineData(9, "SIGKILL")]
    [InlineData(31, "SIGSYS")]
    [InlineData(40, "SIG40")]
    public void A_death_by_signal_number_is_named_as_Linux_names_it(int number, string name)
    {
        Signals.NameOf(number).Should().Be(name);
    }

    [Fact]
    public void Every_signal_a_config_may_name_is_named_back_from_its_number()
    {
        foreach (var name in Signals.Names) Signals.NameOf(Signals.Number(name)!.Value).Should().Be(name);
    }

    [Fact]
    public void A_segfault_by_number_is_diagnosed_as_a_native_crash_not_a_kill_from_outside()
    {
        NodeKeeper.Core.Diagnosis.ExitClassifier.Classify(null, Signals.NameOf(11), "").Cause
            .Should().Be(NodeKeeper.Core.Diagnosis.ExitCauses.NativeCrash);
    }
}
