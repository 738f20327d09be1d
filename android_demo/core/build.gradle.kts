// The pure-JVM core (package org.asymdistill.client): no android.* imports, Gson only.
// Here it is built and tested without Gradle by `make android-core-test` (core/jvm-test.sh: javac + JUnit 4
// from Debian). With Gradle (this file; not run on the machine it was written on):
//
//   distill client-goldens --artifact runs/demo/export/onnx/student_fp32.onnx --out build/android-goldens
//   cd android_demo && ./gradlew :core:test                       # reads ../build/android-goldens
//   cd android_demo && ./gradlew :core:test -Pgoldens=/some/dir   # or another golden folder
//
// The goldens are written by the Python side (preprocessing tensors, metadata, search answers), so the
// tests check that the Java code computes what Python computes.
plugins {
    `java-library`
}

// The same target as jvm-test.sh (javac --release 11), compiled by the JDK that runs Gradle (17+ for AGP 8);
// the app's D8 desugars it for minSdk 24.
tasks.withType<JavaCompile>().configureEach {
    options.release.set(11)
    options.encoding = "UTF-8"
    options.compilerArgs.add("-Xlint:all") // jvm-test.sh adds -Werror; left off here so a newer JDK's new lints don't break the app build
}

dependencies {
    implementation("com.google.code.gson:gson:2.10.1")
    testImplementation("junit:junit:4.13.2")
}

// -Pgoldens=DIR (absolute, or relative to android_demo/), default ../build/android-goldens = the repository's
// build/android-goldens, i.e. ../../build/android-goldens seen from this folder.
val goldensDir: File = rootProject.file(
    providers.gradleProperty("goldens").getOrElse("../build/android-goldens")
)

tasks.test {
    systemProperty("goldens", goldensDir.absolutePath)
    inputs.files(goldensDir).withPropertyName("goldens") // files(), not dir(): a missing folder gets the message below
    doFirst {
        if (!File(goldensDir, "goldens.json").isFile) {
            throw GradleException(
                "No goldens in $goldensDir: from the repository root run\n" +
                    "  distill client-goldens --artifact runs/demo/export/onnx/student_fp32.onnx --out build/android-goldens\n" +
                    "(after `make demo`), or pass -Pgoldens=DIR."
            )
        }
    }
}
