# Checks the linked restorer for relocations, extracts its bytes and writes
# them as a C++ array (ELF, READELF, OBJCOPY, BIN, OUT are passed with -D).
execute_process(COMMAND ${READELF} -rW ${ELF} OUTPUT_VARIABLE relocs RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "readelf failed on ${ELF}")
endif()
if(relocs MATCHES "R_X86_64")
  message(FATAL_ERROR "the restorer blob needs relocations; it must be position independent:\n${relocs}")
endif()
execute_process(COMMAND ${OBJCOPY} -O binary -j .text -j .rodata -j .data ${ELF} ${BIN}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "objcopy failed on ${ELF}")
endif()
file(READ ${BIN} hex HEX)
string(REGEX REPLACE "(..)" "0x\\1," bytes "${hex}")
file(WRITE ${OUT}
  "// Generated from src/crib/restore/restorer by embed_restorer.cmake.\n"
  "#include \"crib/restore/restorer_blob.hpp\"\n\n"
  "namespace crib::restore {\n"
  "namespace {\n"
  "alignas(16) const unsigned char kBytes[] = {${bytes}};\n"
  "}\n"
  "std::span<const unsigned char> restorer_blob() { return kBytes; }\n"
  "}  // namespace crib::restore\n")
