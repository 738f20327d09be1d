#!/usr/bin/env bash
# Compile the pure-JVM core and its JUnit 4 tests with the JDK's javac and run them against a golden
# folder written by `distill client-goldens` (no Gradle, no Android SDK: jars from Debian's packages).
#   usage: android_demo/core/jvm-test.sh GOLDENS_DIR [BUILD_DIR]
set -euo pipefail
goldens=$(cd "${1:?usage: jvm-test.sh GOLDENS_DIR [BUILD_DIR]}" && pwd)
build=${2:-build/android-core}
here=$(cd "$(dirname "$0")" && pwd)
jars=(/usr/share/java/gson.jar /usr/share/java/junit4.jar /usr/share/java/hamcrest-core.jar)
for jar in "${jars[@]}"; do
  [[ -f $jar ]] || { echo "error: $jar missing: apt-get install junit4 libgoogle-gson-java (make android-core-deps)" >&2; exit 2; }
done
cp=$(IFS=:; echo "${jars[*]}")
rm -rf "$build" && mkdir -p "$build/main" "$build/test"
javac --release 11 -Xlint:all -Werror -d "$build/main" -cp "$cp" $(find "$here/src/main/java" -name '*.java')
javac --release 11 -Xlint:all -Werror -d "$build/test" -cp "$build/main:$cp" $(find "$here/src/test/java" -name '*.java')
tests=$(cd "$here/src/test/java" && find . -name '*Test.java' | sed 's|^\./||; s|\.java$||; s|/|.|g' | sort)
java -Dgoldens="$goldens" -cp "$build/main:$build/test:$cp" org.junit.runner.JUnitCore $tests
