"""The build script of the offline test platform: what a PlatformIO Arm platform does for a
project without a framework (compile with the board's -mcpu, link the program, make a
.bin), with the system's arm-none-eabi-gcc instead of a downloaded toolchain package."""

from SCons.Script import Builder, Default, DefaultEnvironment

env = DefaultEnvironment()
cpu = env.BoardConfig().get("build.cpu")
env.Replace(
    AR="arm-none-eabi-gcc-ar", AS="arm-none-eabi-as", CC="arm-none-eabi-gcc", CXX="arm-none-eabi-g++",
    GDB="arm-none-eabi-gdb", OBJCOPY="arm-none-eabi-objcopy", RANLIB="arm-none-eabi-gcc-ranlib",
    SIZETOOL="arm-none-eabi-size", PROGSUFFIX=".elf",
)
env.Append(
    CCFLAGS=["-Os", "-ffunction-sections", "-fdata-sections", "-mthumb", f"-mcpu={cpu}"],
    LINKFLAGS=["-Os", "-Wl,--gc-sections", "-mthumb", f"-mcpu={cpu}", "--specs=nosys.specs"],
    LIBS=["c", "gcc", "m", "nosys"],
    BUILDERS={"ElfToBin": Builder(action="$OBJCOPY -O binary $SOURCES $TARGET", suffix=".bin")},
)
program = env.BuildProgram()
Default([env.ElfToBin("$BUILD_DIR/${PROGNAME}", program)])
